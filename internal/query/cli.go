package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/selector"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitDenied  = 1 // trace: the packet would be dropped
	ExitFailure = 2 // any error
)

// Streams are calicoq's input and outputs.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

type cliOptions struct {
	Streams
	src    Source
	output string
	code   int
}

// errDenied marks a trace whose verdict is Deny (exit code 1, no error
// message).
var errDenied = errors.New("denied")

// Run executes calicoq with args and returns its exit code.
func Run(ctx context.Context, args []string, s Streams) int {
	o := &cliOptions{Streams: s}
	cmd := newCommand(o)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	switch {
	case errors.Is(err, errDenied):
		return ExitDenied
	case err != nil:
		fmt.Fprintln(s.ErrOut, "Error:", err)
		return ExitFailure
	}
	return ExitOK
}

func newCommand(o *cliOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "calicoq",
		Short: "Query Calico policy: what selectors select, what applies to an endpoint, what decides a packet",
		Long: `calicoq answers questions about Calico policy, against a live cluster
(kubeconfig) or offline against manifest files (--from-file), so policy
changes can be checked in CI before they are deployed.

Exit codes: 0 success (trace: allowed), 1 trace denied, 2 error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(o.In)
	root.SetOut(o.Out)
	root.SetErr(o.ErrOut)
	pf := root.PersistentFlags()
	pf.StringVar(&o.src.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG, then ~/.kube/config)")
	pf.StringArrayVar(&o.src.Files, "from-file", nil, "answer offline from these manifests (file, directory or -; repeatable): Namespaces, Pods, workloads, ServiceAccounts, NetworkPolicies, EndpointSlices and projectcalico.org/v3 resources")
	pf.BoolVarP(&o.src.Recursive, "recursive", "R", false, "read --from-file directories recursively")
	pf.StringVarP(&o.output, "output", "o", "", "output format: yaml or json (default: text)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		switch o.output {
		case "", "yaml", "json":
			return nil
		}
		return fmt.Errorf("unknown output format %q; use yaml or json", o.output)
	}
	root.AddCommand(evalCommand(o), policyCommand(o), endpointCommand(o), hostCommand(o), traceCommand(o), versionCommand(o))
	return root
}

func (o *cliOptions) load(ctx context.Context) (*State, error) {
	o.src.Log = slog.New(slog.NewTextHandler(o.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := Load(ctx, o.src, o.In)
	if err != nil {
		return nil, err
	}
	for _, n := range st.Notes {
		fmt.Fprintln(o.ErrOut, "Note:", n)
	}
	return st, nil
}

// emit prints v as YAML or JSON, or calls text.
func (o *cliOptions) emit(v any, text func(io.Writer)) error {
	switch o.output {
	case "json":
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.Out, "%s\n", data)
		return err
	case "yaml":
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(data)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(y)
		return err
	}
	text(o.Out)
	return nil
}

func evalCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "eval SELECTOR",
		Short:   "List the endpoints and network sets a selector matches",
		Example: `  calicoq eval 'app == "web" && has(pcns.team)'`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Check the selector before loading anything.
			if _, err := selector.Parse(args[0]); err != nil {
				return err
			}
			st, err := o.load(cmd.Context())
			if err != nil {
				return err
			}
			res, err := Eval(st, args[0])
			if err != nil {
				return err
			}
			return o.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "Endpoints matching selector %s:\n", res.Selector)
				for _, e := range res.Endpoints {
					fmt.Fprintf(w, "  %s\n", e)
				}
				if len(res.NetworkSets) > 0 {
					fmt.Fprintf(w, "Network sets matching selector %s:\n", res.Selector)
					for _, e := range res.NetworkSets {
						fmt.Fprintf(w, "  %s\n", e)
					}
				}
			})
		},
	}
}

func policyCommand(o *cliOptions) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "policy NAME",
		Short: "Show the endpoints a policy applies to, and what each of its rules selects",
		Example: `  calicoq policy security.block-bad
  calicoq policy allow-web -n prod
  calicoq policy KubernetesNetworkPolicy/prod/default-deny`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.load(cmd.Context())
			if err != nil {
				return err
			}
			ids, err := FindPolicies(st, args[0], namespace)
			if err != nil {
				return err
			}
			var results []*PolicyResult
			for _, id := range ids {
				r, err := Policy(st, id)
				if err != nil {
					return err
				}
				results = append(results, r)
			}
			var v any = results
			if len(results) == 1 {
				v = results[0]
			}
			return o.emit(v, func(w io.Writer) {
				for _, r := range results {
					printPolicy(w, r)
				}
			})
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of a namespaced policy")
	return cmd
}

func policyName(id PolicyRef) string {
	if id.Namespace != "" {
		return id.Kind + " " + id.Namespace + "/" + id.Name
	}
	return id.Kind + " " + id.Name
}

func printPolicy(w io.Writer, r *PolicyResult) {
	order := "unset"
	if r.Order != nil {
		order = fmt.Sprint(*r.Order)
	}
	fmt.Fprintf(w, "%s (tier %s, order %s)\n", policyName(r.Policy), r.Tier, order)
	fmt.Fprintf(w, "  Selector: %s\n", r.Selector)
	fmt.Fprintf(w, "  Applies to %d endpoint(s):\n", len(r.AppliesTo))
	for _, e := range r.AppliesTo {
		fmt.Fprintf(w, "    %s\n", e)
	}
	for _, dir := range []struct {
		name  string
		rules []RuleResult
	}{{"Ingress", r.Ingress}, {"Egress", r.Egress}} {
		if len(dir.rules) == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s rules:\n", dir.name)
		for _, rr := range dir.rules {
			fmt.Fprintf(w, "    %d %s\n", rr.Index, rr.Action)
			printSide(w, "source", rr.Source)
			printSide(w, "destination", rr.Destination)
		}
	}
}

func printSide(w io.Writer, name string, s *SideResult) {
	if s == nil {
		return
	}
	var what []string
	if s.Selector != "" {
		what = append(what, "selector "+s.Selector)
	}
	if s.NamespaceSelector != "" {
		what = append(what, "namespaceSelector "+s.NamespaceSelector)
	}
	if len(s.ServiceAccounts) > 0 {
		what = append(what, "serviceAccounts "+strings.Join(s.ServiceAccounts, ","))
	}
	if s.NotSelector != "" {
		what = append(what, "notSelector "+s.NotSelector)
	}
	if len(s.Nets) > 0 {
		what = append(what, "nets "+strings.Join(s.Nets, ","))
	}
	if len(s.NotNets) > 0 {
		what = append(what, "notNets "+strings.Join(s.NotNets, ","))
	}
	if len(s.Ports) > 0 {
		what = append(what, "ports "+strings.Join(s.Ports, ","))
	}
	if len(s.NotPorts) > 0 {
		what = append(what, "notPorts "+strings.Join(s.NotPorts, ","))
	}
	if len(what) == 0 {
		return
	}
	fmt.Fprintf(w, "      %s %s", name, strings.Join(what, "; "))
	if s.Matches == nil {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, " selects %d:\n", len(s.Matches))
	for _, m := range s.Matches {
		fmt.Fprintf(w, "        %s\n", m)
	}
}

func endpointCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "endpoint SUBSTRING",
		Short:   "Show the policies and profiles that apply to matching endpoints, in evaluation order",
		Example: `  calicoq endpoint prod/web`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.load(cmd.Context())
			if err != nil {
				return err
			}
			res := Endpoints(st, MatchesSubstring(args[0]))
			if len(res) == 0 {
				return fmt.Errorf("no endpoint matches %q", args[0])
			}
			return o.emit(res, func(w io.Writer) { printEndpoints(w, res) })
		},
	}
}

func hostCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "host NODE",
		Short:   "Show every endpoint on a node with the policies that apply to it",
		Example: `  calicoq host node-1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.load(cmd.Context())
			if err != nil {
				return err
			}
			res := Endpoints(st, func(e calc.Endpoint) bool { return e.Node == args[0] })
			if res == nil {
				res = []EndpointResult{}
			}
			return o.emit(map[string]any{"node": args[0], "endpoints": res}, func(w io.Writer) {
				fmt.Fprintf(w, "Node %s: %d endpoint(s)\n", args[0], len(res))
				printEndpoints(w, res)
			})
		},
	}
}

func printEndpoints(w io.Writer, res []EndpointResult) {
	for _, r := range res {
		fmt.Fprintf(w, "%s\n", r.Endpoint)
		for _, dir := range []struct {
			name  string
			tiers []TierResult
		}{{"Ingress", r.Ingress}, {"Egress", r.Egress}} {
			fmt.Fprintf(w, "  %s:\n", dir.name)
			for _, t := range dir.tiers {
				var names []string
				for _, p := range t.Policies {
					names = append(names, policyName(p))
				}
				fmt.Fprintf(w, "    tier %s (default %s): %s\n", t.Tier, t.DefaultAction, strings.Join(names, ", "))
			}
			fmt.Fprintf(w, "    profiles: %s\n", strings.Join(r.Profiles, ", "))
		}
		if len(r.SelectedBy) > 0 {
			fmt.Fprintf(w, "  Selected by rules:\n")
			for _, s := range r.SelectedBy {
				fmt.Fprintf(w, "    %s %s rule %d (%s)\n", policyName(s.Policy), s.Direction, s.Rule, s.Side)
			}
		}
	}
}

func traceCommand(o *cliOptions) *cobra.Command {
	var q TraceQuery
	var dns []string
	cmd := &cobra.Command{
		Use:   "trace --from NS/POD|hep:NAME|IP --to NS/POD|hep:NAME|IP --port N [--protocol TCP|UDP|SCTP|ICMP]",
		Short: "Say whether a connection would be allowed, and which policy decided",
		Long: `Say whether a connection would be allowed, and which policy decided, on
the source's egress, the host endpoints it is forwarded through, and the
destination's ingress.

A host endpoint's expected IP (or hep:NAME) stands for its host. Traffic
from or to outside a node meets the host endpoint of the interface it
arrives on (--in-interface) or leaves by (--out-interface); without the
flag, only a host endpoint for all interfaces ("*") applies, or the named
host endpoint's own interface. Failsafe ports and
DefaultEndpointToHostAction come from the FelixConfiguration "default".

Exit code 0 if the packet would be allowed, 1 if denied, 2 on error.`,
		Example: `  calicoq trace --from prod/api-1 --to prod/web-1 --port 8080
  calicoq trace --from 192.0.2.7 --to prod/web-1 --port 443 -o json
  calicoq trace --from 192.0.2.7 --to hep:node-1-eth0 --port 22
  calicoq trace --from 192.0.2.7 --to prod/web-1 --port 80 --in-interface eth0
  calicoq trace --from-file ./manifests --from x/a --to y/b --port 80
  calicoq trace --from prod/api-1 --to api.example.com --dns api.example.com=192.0.2.10 --port 443`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.From == "" || q.To == "" {
				return errors.New("give both --from and --to")
			}
			q.DNS = nil
			for _, d := range dns {
				a, err := ParseDNSAnswer(d)
				if err != nil {
					return fmt.Errorf("--dns %w", err)
				}
				q.DNS = append(q.DNS, a)
			}
			st, err := o.load(cmd.Context())
			if err != nil {
				return err
			}
			res, err := TracePacket(st, q)
			if err != nil {
				return err
			}
			if err := o.emit(res, func(w io.Writer) { printTrace(w, res) }); err != nil {
				return err
			}
			if res.Verdict != "Allow" {
				return errDenied
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.From, "from", "", "source: NAMESPACE/POD, hep:NAME (a host endpoint's host) or an IP address")
	f.StringVar(&q.To, "to", "", "destination: NAMESPACE/POD, hep:NAME or an IP address")
	f.IntVar(&q.Port, "port", 0, "destination port (not for ICMP)")
	f.StringVar(&q.Protocol, "protocol", "TCP", "TCP, UDP, SCTP or ICMP")
	f.StringVar(&q.InInterface, "in-interface", "", "host interface the packet arrives on from outside the node")
	f.StringVar(&q.OutInterface, "out-interface", "", "host interface the packet leaves the node by")
	f.StringVar(&q.Node, "node", "", "node whose host endpoints apply when neither end is on a node")
	f.StringArrayVar(&dns, "dns", nil, "NAME=ADDRESS: a trusted DNS server answered NAME with ADDRESS (repeatable); rules allowing NAME's domains then match ADDRESS, and --from or --to may be NAME")
	return cmd
}

func printTrace(w io.Writer, r *TraceResult) {
	port := ""
	if r.Port != 0 {
		port = fmt.Sprintf(" port %d", r.Port)
	}
	fmt.Fprintf(w, "%s from %s to %s%s\n", r.Protocol, r.From, r.To, port)
	fmt.Fprintf(w, "  Egress:  %s\n", describeDecision(r.Egress))
	for _, d := range r.Via {
		fmt.Fprintf(w, "  Via:     %s\n", describeDecision(d))
	}
	fmt.Fprintf(w, "  Ingress: %s\n", describeDecision(r.Ingress))
	fmt.Fprintf(w, "Verdict: %s\n", r.Verdict)
}

func describeDecision(d *calc.Decision) string {
	var s string
	where := ""
	if d.Stage != "" {
		where = fmt.Sprintf(" [%s, %s policy]", d.Endpoint, d.Stage)
	}
	switch d.Reason {
	case calc.ReasonNoEndpoint:
		return "Allow (not a Calico endpoint: no policy applies)"
	case calc.ReasonFailsafe:
		return fmt.Sprintf("Allow (failsafe port of %s: open whatever the policy)", d.Endpoint)
	case calc.ReasonHostToLocal:
		return "Allow (the host reaching its own workloads is not policed)"
	case calc.ReasonEndpointToHost:
		return fmt.Sprintf("%s (a workload to its own host: DefaultEndpointToHostAction %s)", d.Verdict, d.Action)
	case calc.ReasonNoForwardPolicy:
		return fmt.Sprintf("Allow (forwarded through %s: no applyOnForward policy decided)", d.Endpoint)
	case calc.ReasonPolicy:
		s = fmt.Sprintf("%s by %s rule %d (tier %s)", d.Verdict, policyName(*d.Policy), *d.Rule, d.Tier)
	case calc.ReasonTierDefault:
		s = fmt.Sprintf("%s by the end of tier %s (default action %s: no policy in the tier decided)", d.Verdict, d.Tier, d.Action)
	case calc.ReasonProfile:
		s = fmt.Sprintf("%s by profile %s rule %d", d.Verdict, d.Profile, *d.Rule)
	default:
		s = fmt.Sprintf("%s (no policy or profile allowed it)", d.Verdict)
	}
	s += where
	if d.HTTPNotEnforced {
		s += "; the rule's http match is not enforced by this dataplane (L3/L4 only)"
	}
	for _, l := range d.Logged {
		s += fmt.Sprintf("; logged by %s rule %d", policyName(l.Policy), l.Rule)
	}
	if d.Staged != nil && d.Staged.Verdict != d.Verdict {
		s += fmt.Sprintf("; with staged policies: %s", describeDecision(d.Staged))
	} else if d.Staged != nil {
		s += "; staged policies would not change this"
	}
	return s
}

func versionCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(o.Out, "calicoq %s\n", buildinfo.Version)
			return nil
		},
	}
}
