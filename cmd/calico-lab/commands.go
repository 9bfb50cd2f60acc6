package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/calicong/calico/internal/lab"
)

// exitError carries a command's exit code out of cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newProbeCommand(cfg *lab.Config) *cobra.Command {
	var port int
	var protocol, output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "probe FROM TO --port N",
		Short: "Try one connection between pods, nodes or addresses",
		Long: "Try one connection from FROM to TO. Each is NAMESPACE/POD, a node name or an IP address\n" +
			"(FROM must be a pod or node of the lab); TO may also be a DNS name, which FROM resolves through\n" +
			"the cluster DNS (kube-dns) before connecting, as a pod would: calico-lab probe demo/client allowed.example.test --port 80.\n" +
			"Exit code: 0 connected, 1 not connected, 2 error.",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.ExactArgs(2)(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := lab.Probe(cmd.Context(), *cfg, args[0], args[1], port, protocol, timeout)
			if err != nil {
				return usageError{err} // exit code 2 for every error
			}
			if err := lab.PrintProbe(cmd.OutOrStdout(), r, output); err != nil {
				return err
			}
			if !r.Connected {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&port, "port", 0, "destination port (required)")
	cmd.Flags().StringVar(&protocol, "protocol", "tcp", "tcp, udp or sctp")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "how long to wait for the connection")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

func newExecCommand(cfg *lab.Config) *cobra.Command {
	return &cobra.Command{
		Use:   "exec NAMESPACE/POD|NODE -- COMMAND [ARGS...]",
		Short: "Run a command in a pod's or a node's network namespace",
		Long: "Run a command in a pod's or a node's network namespace and return its exit code.\n" +
			"In a node, calicoctl finds that node's calico-node: calico-lab exec node-1 -- calicoctl node status",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return fmt.Errorf("%w: calico-lab exec TARGET -- COMMAND [ARGS...]", lab.ErrUsage)
			}
			code, err := lab.Exec(cmd.Context(), *cfg, args[0], args[1:], os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return usageOr(err)
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
}

func newLogsCommand(cfg *lab.Config) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "logs COMPONENT [--node NAME]",
		Short: "Print a component's log (control plane, or calico-node, cni and node-agent on a node)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := lab.LogPath(*cfg, args[0], node)
			if err != nil {
				return usageOr(err)
			}
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("%s has no log yet: %w", args[0], err)
			}
			defer f.Close()
			_, err = io.Copy(cmd.OutOrStdout(), f)
			return err
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "the node (for calico-node, cni and node-agent)")
	return cmd
}

func newRestartCommand(cfg *lab.Config) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "restart COMPONENT [--node NAME]",
		Short: "Restart one component the way a process supervisor would",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lab.Restart(cmd.Context(), *cfg, args[0], node); err != nil {
				return usageOr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restarting %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "the node (for calico-node and node-agent)")
	return cmd
}

func newStopCommand(cfg *lab.Config) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "stop COMPONENT [--node NAME]",
		Short: "Stop a control-plane component, Linseed, a log shipper or a node agent until calico-lab start",
		Long: "Stop one of the components the lab's supervisor runs and keep it stopped, to see how the rest\n" +
			"copes without it: calico-lab stop calico-linseed; calico-lab start calico-linseed",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lab.Stop(cmd.Context(), *cfg, args[0], node); err != nil {
				return usageOr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s stopped; calico-lab start %s starts it again\n", args[0], args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "the node (for node-agent)")
	return cmd
}

func newStartCommand(cfg *lab.Config) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "start COMPONENT [--node NAME]",
		Short: "Start a component calico-lab stop stopped, and wait until it is ready",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lab.Start(cmd.Context(), *cfg, args[0], node); err != nil {
				return usageOr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s running\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "the node (for node-agent)")
	return cmd
}

func newRolloutCommand(cfg *lab.Config) *cobra.Command {
	rollout := &cobra.Command{Use: "rollout", Short: "Roll a node component over every node, as a DaemonSet update does"}
	var perNode time.Duration
	restart := &cobra.Command{
		Use:   "restart calico-node|kube-proxy",
		Short: "Restart the component node by node, each after the previous one is ready again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageOr(lab.Rollout(cmd.Context(), *cfg, args[0], perNode, cmd.OutOrStdout()))
		},
	}
	restart.Flags().DurationVar(&perNode, "timeout", 2*time.Minute, "how long each node may take to be ready again")
	rollout.AddCommand(restart)
	return rollout
}

// usageOr marks usage errors for exit code 2.
func usageOr(err error) error {
	if errors.Is(err, lab.ErrUsage) {
		return usageError{err}
	}
	return err
}

type usageError struct{ error }
