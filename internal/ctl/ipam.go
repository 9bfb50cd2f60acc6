package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/ipam"
)

// errProblems: `ipam check` found something (exit code 1, already
// reported).
var errProblems = errors.New("IPAM check found problems")

func newIPAMCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ipam",
		Short: "Inspect and repair IP address management",
	}
	cmd.AddCommand(newIPAMShowCommand(o), newIPAMCheckCommand(o), newIPAMReleaseCommand(o), newIPAMConfigureCommand(o))
	return cmd
}

func writeStructured(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("-o %s: use json or yaml (or leave it out for a table)", format)
}

// usage is a pool's or block's address counts.
type usage struct {
	Name     string `json:"name,omitempty"`
	CIDR     string `json:"cidr"`
	Affinity string `json:"affinity,omitempty"`
	Total    string `json:"total"`
	InUse    int    `json:"inUse"`
	Free     string `json:"free"`
}

func count(p netip.Prefix) uint64 {
	bits := p.Addr().BitLen() - p.Bits()
	if bits >= 64 {
		return 0 // shown as "2^N"
	}
	return 1 << bits
}

func countString(p netip.Prefix, minus int) string {
	bits := p.Addr().BitLen() - p.Bits()
	if bits >= 64 {
		return fmt.Sprintf("2^%d", bits)
	}
	return fmt.Sprint(count(p) - uint64(minus))
}

func newIPAMShowCommand(o *options) *cobra.Command {
	var (
		showBlocks, showConfig bool
		ip, output             string
	)
	cmd := &cobra.Command{
		Use:   "show [--show-blocks] [--ip ADDR] [--show-configuration]",
		Short: "Show address usage by pool (and block), or who holds one address",
		Example: `  calicoctl ipam show
  calicoctl ipam show --show-blocks
  calicoctl ipam show --ip 10.65.0.7
  calicoctl ipam show --show-configuration -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.getClient()
			if err != nil {
				return err
			}
			m := c.IPAM()
			ctx := cmd.Context()
			if showConfig {
				s, err := m.Settings(ctx)
				if err != nil {
					return err
				}
				v := map[string]any{"strictAffinity": s.StrictAffinity, "maxBlocksPerHost": s.MaxBlocksPerHost,
					"autoAllocateBlocks": s.AutoAllocateBlocks, "ipCooldownSeconds": int(s.Cooldown.Seconds())}
				if output != "" {
					return writeStructured(o.Out, output, v)
				}
				w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "PROPERTY\tVALUE")
				for _, k := range []string{"strictAffinity", "maxBlocksPerHost", "autoAllocateBlocks", "ipCooldownSeconds"} {
					fmt.Fprintf(w, "%s\t%v\n", k, v[k])
				}
				return w.Flush()
			}
			all, err := m.Allocations(ctx)
			if err != nil {
				return err
			}
			if ip != "" {
				a, err := netip.ParseAddr(ip)
				if err != nil {
					return fmt.Errorf("--ip %q is not an address", ip)
				}
				i := slices.IndexFunc(all, func(al ipam.Allocation) bool { return al.Addr == a })
				if i < 0 {
					fmt.Fprintf(o.Out, "IP %s is not assigned\n", a)
					return nil
				}
				al := all[i]
				if output != "" {
					return writeStructured(o.Out, output, al)
				}
				state := "in use"
				if al.Released {
					state = "released, cooling down"
				}
				fmt.Fprintf(o.Out, "IP %s is %s\n  block:    %s\n  handle:   %s\n", a, state, al.Block, al.Handle)
				if al.Affinity != "" {
					fmt.Fprintf(o.Out, "  affinity: %s\n", al.Affinity)
				}
				var keys []string
				for k := range al.Attrs {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				for _, k := range keys {
					fmt.Fprintf(o.Out, "  %s: %s\n", k, al.Attrs[k])
				}
				return nil
			}
			pools, err := c.List(ctx, ipam.KindPool, "")
			if err != nil {
				return err
			}
			blocks, err := c.List(ctx, ipam.KindBlock, "")
			if err != nil {
				return err
			}
			inUse := func(p netip.Prefix) int {
				n := 0
				for _, al := range all {
					if p.Contains(al.Addr) {
						n++
					}
				}
				return n
			}
			var rows []usage
			for _, po := range pools {
				p := po.(*v3.IPPool)
				cidr, err := netip.ParsePrefix(p.Spec.CIDR)
				if err != nil {
					continue
				}
				n := inUse(cidr)
				rows = append(rows, usage{Name: "IP Pool " + p.Name, CIDR: cidr.String(), Total: countString(cidr, 0), InUse: n, Free: countString(cidr, n)})
				if !showBlocks {
					continue
				}
				var bs []usage
				for _, bo := range blocks {
					b := bo.(*v3.IPAMBlock)
					bc, err := netip.ParsePrefix(b.Spec.CIDR)
					if err != nil || !cidr.Contains(bc.Addr()) {
						continue
					}
					aff := ""
					if b.Spec.Affinity != nil {
						aff = *b.Spec.Affinity
					}
					n := inUse(bc)
					bs = append(bs, usage{Name: "Block", CIDR: bc.String(), Affinity: aff, Total: countString(bc, 0), InUse: n, Free: countString(bc, n)})
				}
				slices.SortFunc(bs, func(a, b usage) int {
					return netip.MustParsePrefix(a.CIDR).Addr().Compare(netip.MustParsePrefix(b.CIDR).Addr())
				})
				rows = append(rows, bs...)
			}
			if output != "" {
				return writeStructured(o.Out, output, rows)
			}
			w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "GROUPING\tCIDR\tAFFINITY\tIPS TOTAL\tIPS IN USE\tIPS FREE")
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", r.Name, r.CIDR, r.Affinity, r.Total, r.InUse, r.Free)
			}
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.BoolVar(&showBlocks, "show-blocks", false, "also show each block, with its node affinity")
	f.BoolVar(&showConfig, "show-configuration", false, "show the IPAM configuration instead")
	f.StringVar(&ip, "ip", "", "show who holds this address")
	f.StringVarP(&output, "output", "o", "", "json or yaml (default: a table)")
	return cmd
}

// owners judges allocations against the cluster's pods and nodes.
func owners(pods []corev1.Pod, nodes []corev1.Node) ipam.Owners {
	nodeSet := map[string]bool{}
	for _, n := range nodes {
		nodeSet[n.Name] = true
	}
	return ipam.OwnersFromPods(conversion.IPAMPods(pods), nodeSet)
}

func newIPAMCheckCommand(o *options) *cobra.Command {
	var (
		showProblemIPs bool
		output         string
	)
	cmd := &cobra.Command{
		Use:   "check [--show-problem-ips] [-o json|yaml]",
		Short: "Find leaked and inconsistent allocations and affinities",
		Long: `Check reads every IPAM object, every pod and every node, and reports:
addresses held for pods or nodes that no longer exist (leaks), pods using
addresses IPAM has not allocated, allocations without their handle, handle
counts that disagree with the blocks, affinities without blocks and blocks
without affinities, unfinished claims, and blocks outside every pool.

Exit code 0 if nothing was found, 1 if anything was (or on error).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.getClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			pods, err := c.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("listing pods: %w", err)
			}
			nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("listing nodes: %w", err)
			}
			r, err := c.IPAM().Check(ctx, owners(pods.Items, nodes.Items))
			if err != nil {
				return err
			}
			if output != "" {
				if err := writeStructured(o.Out, output, r); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(o.Out, "Checked %d pool(s), %d block(s), %d allocation(s), %d handle(s), %d pod(s), %d node(s).\n",
					r.Pools, r.Blocks, r.Allocations, r.Handles, len(pods.Items), len(nodes.Items))
				kinds := map[string]int{}
				for _, p := range r.Problems {
					kinds[p.Kind]++
				}
				if len(r.Problems) == 0 {
					fmt.Fprintln(o.Out, "No problems found.")
				} else {
					fmt.Fprintf(o.Out, "Found %d problem(s):\n", len(r.Problems))
					var ks []string
					for k := range kinds {
						ks = append(ks, k)
					}
					slices.Sort(ks)
					for _, k := range ks {
						fmt.Fprintf(o.Out, "  %-22s %d\n", k, kinds[k])
					}
					if showProblemIPs {
						for _, p := range r.Problems {
							what := p.IP
							if what == "" {
								what = p.Object
							}
							fmt.Fprintf(o.Out, "  %s: %s (%s)\n", what, p.Detail, p.Kind)
						}
					} else {
						fmt.Fprintln(o.Out, "Run with --show-problem-ips for each one.")
					}
				}
			}
			if len(r.Problems) > 0 {
				return errProblems
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&showProblemIPs, "show-problem-ips", false, "list every problem address and object")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml: the full report")
	return cmd
}

func newIPAMReleaseCommand(o *options) *cobra.Command {
	var (
		ips   []string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "release --ip ADDR [--ip ADDR...] [--force]",
		Short: "Release addresses (leaked ones; --force for addresses a pod still uses)",
		Example: `  calicoctl ipam check --show-problem-ips
  calicoctl ipam release --ip 10.65.0.7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(ips) == 0 {
				return errors.New("give the addresses to release with --ip")
			}
			c, err := o.getClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			m := c.IPAM()
			all, err := m.Allocations(ctx)
			if err != nil {
				return err
			}
			pods, err := c.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("listing pods: %w", err)
			}
			nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("listing nodes: %w", err)
			}
			own := owners(pods.Items, nodes.Items)
			var failed []string
			for _, s := range ips {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return fmt.Errorf("--ip %q is not an address", s)
				}
				i := slices.IndexFunc(all, func(al ipam.Allocation) bool { return al.Addr == a })
				if i < 0 {
					fmt.Fprintf(o.ErrOut, "%s is not assigned\n", a)
					failed = append(failed, s)
					continue
				}
				if ok, _ := own.Valid(all[i]); ok && !force {
					fmt.Fprintf(o.ErrOut, "%s is in use by %s/%s (handle %s); not released (use --force)\n", a,
						all[i].Attrs[ipam.AttrNamespace], all[i].Attrs[ipam.AttrPod], all[i].Handle)
					failed = append(failed, s)
					continue
				}
				// Only this allocation: a stale view cannot free a reused address.
				seq := all[i].SequenceNumber
				not, err := m.ReleaseIPs(ctx, ipam.ReleaseOptions{Address: a, Handle: all[i].Handle, SequenceNumber: &seq})
				if err != nil {
					return err
				}
				if len(not) > 0 {
					fmt.Fprintf(o.ErrOut, "%s changed owner meanwhile; not released\n", a)
					failed = append(failed, s)
					continue
				}
				fmt.Fprintf(o.Out, "Released %s\n", a)
			}
			if len(failed) > 0 {
				return fmt.Errorf("not released: %s", strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&ips, "ip", nil, "address to release (repeatable)")
	cmd.Flags().BoolVar(&force, "force", false, "release even if a pod still uses the address")
	return cmd
}

func newIPAMConfigureCommand(o *options) *cobra.Command {
	var (
		strict              string
		maxBlocks, cooldown int
	)
	cmd := &cobra.Command{
		Use:   "configure [--strictaffinity=true|false] [--max-blocks-per-host N] [--ip-cooldown-seconds N]",
		Short: "Change the IPAM configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			if !f.Changed("strictaffinity") && !f.Changed("max-blocks-per-host") && !f.Changed("ip-cooldown-seconds") {
				return errors.New("give --strictaffinity, --max-blocks-per-host or --ip-cooldown-seconds")
			}
			var sa *bool
			if f.Changed("strictaffinity") {
				switch strings.ToLower(strict) {
				case "true":
					t := true
					sa = &t
				case "false":
					fl := false
					sa = &fl
				default:
					return fmt.Errorf("--strictaffinity %q: use true or false", strict)
				}
			}
			if maxBlocks < 0 || cooldown < 0 || cooldown > 1200 {
				return errors.New("--max-blocks-per-host must be ≥ 0 and --ip-cooldown-seconds 0-1200")
			}
			c, err := o.getClient()
			if err != nil {
				return err
			}
			err = c.IPAM().Configure(cmd.Context(), func(s *v3.IPAMConfigurationSpec) {
				if sa != nil {
					s.StrictAffinity = *sa
				}
				if f.Changed("max-blocks-per-host") {
					s.MaxBlocksPerHost = int32(maxBlocks)
				}
				if f.Changed("ip-cooldown-seconds") {
					c := int32(cooldown)
					s.IPCooldownSeconds = &c
				}
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(o.Out, "Successfully set the IPAM configuration")
			return nil
		},
	}
	cmd.Flags().StringVar(&strict, "strictaffinity", "", "true: never borrow addresses from other nodes' blocks")
	cmd.Flags().IntVar(&maxBlocks, "max-blocks-per-host", 0, "blocks one node may hold (0: the default, 20)")
	cmd.Flags().IntVar(&cooldown, "ip-cooldown-seconds", 0, "how long a released address rests before reuse")
	return cmd
}
