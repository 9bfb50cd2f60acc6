package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/datastore"
)

// Streams are a command's standard input and outputs.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// options are the global flags and the lazily created client.
type options struct {
	Streams
	kubeconfig string
	client     *datastore.Client
}

func (o *options) getClient() (*datastore.Client, error) {
	if o.client != nil {
		return o.client, nil
	}
	cfg, err := datastore.LoadConfig(o.kubeconfig)
	if err != nil {
		return nil, err
	}
	// calicoctl prints the validator's warnings itself, before it writes;
	// the webhook's copies of them (one per dry run and write) would repeat
	// them as log lines.
	cfg.WarningHandler = rest.NoWarnings{}
	c, err := datastore.New(cfg)
	if err != nil {
		return nil, err
	}
	o.client = c
	return c, nil
}

// NewCommand builds calicoctl's command tree.
func NewCommand(s Streams) *cobra.Command {
	o := &options{Streams: s}
	root := &cobra.Command{
		Use:           "calicoctl",
		Short:         "Manage Calico resources",
		Long:          "calicoctl creates, reads, updates and deletes projectcalico.org/v3 resources in a Kubernetes cluster.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.PersistentFlags().StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default $KUBECONFIG, then ~/.kube/config)")
	root.AddCommand(
		newGetCommand(o),
		newWriteCommand(o, verbCreate),
		newWriteCommand(o, verbApply),
		newWriteCommand(o, verbReplace),
		newDeleteCommand(o),
		newPatchCommand(o),
		newLabelCommand(o),
		newValidateCommand(o),
		newVersionCommand(o),
		newIPAMCommand(o),
		newNodeCommand(o),
		newCapturedPacketsCommand(o),
	)
	return root
}

// Run executes calicoctl with args and returns its exit code: 0 on
// success, 1 on any error (printed to ErrOut).
func Run(ctx context.Context, args []string, s Streams) int {
	cmd := NewCommand(s)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errProblems) { // already reported
			fmt.Fprintln(s.ErrOut, "Error:", err)
		}
		return 1
	}
	return 0
}

// kindArg resolves a kind given on the command line.
func kindArg(name string) (v3.KindInfo, error) {
	k, ok := v3.KindFor(name)
	if !ok {
		var names []string
		for _, k := range v3.Kinds() {
			names = append(names, k.Singular)
		}
		return k, fmt.Errorf("unknown resource type %q; valid types are: %s", name, strings.Join(names, ", "))
	}
	return k, nil
}

func newVersionCommand(o *options) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and cluster versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(o.Out, "Client Version:    %s\n", buildinfo.Version)
			if clientOnly {
				return nil
			}
			c, err := o.getClient()
			if err != nil {
				return err
			}
			kind, _ := v3.KindFor("ClusterInformation")
			obj, err := c.Get(cmd.Context(), kind, "", v3.DefaultConfigName)
			if err != nil {
				return fmt.Errorf("read cluster version: %w", err)
			}
			ci := obj.(*v3.ClusterInformation)
			fmt.Fprintf(o.Out, "Cluster Version:   %s\n", ci.Spec.CalicoVersion)
			fmt.Fprintf(o.Out, "Cluster Type:      %s\n", ci.Spec.ClusterType)
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only the client version")
	return cmd
}

var errNothingWritten = errors.New("nothing was written")
