// Package query implements calicoq: questions about which endpoints
// selectors and policies select, which policies apply to an endpoint, and
// which policy decides a packet. It answers them from the policy engine
// (internal/calc) fed either from a live cluster or, offline, from
// manifest files, so that policy changes can be checked in CI before they
// are deployed.
package query

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/domainname"
	"github.com/calicong/calico/internal/felixconfig"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
	"github.com/calicong/calico/internal/selector"
	"github.com/calicong/calico/internal/syncer"
)

// Source says where the state comes from.
type Source struct {
	// Files, when set, are manifests to read instead of a cluster.
	Files     []string
	Recursive bool
	// Kubeconfig of the cluster (default $KUBECONFIG, ~/.kube/config).
	Kubeconfig string
	Log        *slog.Logger
}

// State is a loaded graph, every endpoint local, plus notes for the user.
type State struct {
	Graph *calc.Graph
	Notes []string
}

// Load builds the state from files or from the cluster.
func Load(ctx context.Context, src Source, stdin io.Reader) (*State, error) {
	if len(src.Files) > 0 {
		snap, err := LoadFiles(src.Files, src.Recursive, stdin)
		if err != nil {
			return nil, err
		}
		st, err := FromSnapshot(snap, src.Log)
		if err != nil {
			return nil, err
		}
		if n := describeIgnored(snap.Ignored); n != "" {
			st.Notes = append(st.Notes, n)
		}
		if len(snap.Assigned) > 0 {
			st.Notes = append(st.Notes, fmt.Sprintf("%d pod(s) without an address were given made-up ones (see `calicoq endpoint`)", len(snap.Assigned)))
		}
		return st, nil
	}
	defaults, err := felixconfig.Resolve(nil, nil, nil)
	if err != nil {
		return nil, err
	}
	g := calc.New(calc.Config{AllLocal: true, KeepRuleSource: true, Host: calc.HostSettingsFor(defaults.Spec), Log: src.Log}, func([]proto.Message) {})
	st := &State{Graph: g}
	if err := loadLive(ctx, src, g); err != nil {
		return nil, err
	}
	return st, nil
}

// loadLive runs a syncer against the cluster until it is in sync.
func loadLive(ctx context.Context, src Source, g *calc.Graph) error {
	cfg, err := datastore.LoadConfig(src.Kubeconfig)
	if err != nil {
		return err
	}
	c, err := datastore.New(cfg)
	if err != nil {
		return err
	}
	log := src.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srcs, err := c.Sources(datastore.FelixKinds, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	w := &waiter{g: g, done: make(chan struct{})}
	s := syncer.New(srcs, w, log)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	select {
	case <-w.done:
	case <-ctx.Done():
		return fmt.Errorf("reading the cluster's state: not in sync after 60s (is the API server at %s reachable?)", cfg.Host)
	}
	cancel()
	<-errc
	g.Flush()
	return nil
}

// waiter feeds the graph and says when the syncer is in sync.
type waiter struct {
	g    *calc.Graph
	done chan struct{}
}

func (w *waiter) OnUpdates(us []model.Update) {
	w.g.OnUpdates(us)
	useHostSettings(w.g, us)
}

// useHostSettings gives the oracle the cluster's failsafe ports and
// DefaultEndpointToHostAction from the FelixConfiguration "default"
// (built-in defaults for what it leaves unset). Per-node configurations
// are not consulted: calicoq answers for the cluster.
func useHostSettings(g *calc.Graph, us []model.Update) {
	for _, u := range us {
		if u.Key.Kind != "FelixConfiguration" || u.Key.Name != v3.DefaultConfigName {
			continue
		}
		global, _ := u.Value.(*v3.FelixConfiguration)
		fc, err := felixconfig.Resolve(global, nil, nil)
		if err != nil {
			continue
		}
		g.SetHost(calc.HostSettingsFor(fc.Spec))
	}
}
func (w *waiter) OnStatusUpdated(s model.SyncStatus) {
	w.g.OnStatusUpdated(s)
	if s == model.InSync {
		close(w.done)
	}
}

// EndpointRef names an endpoint or network set in results.
type EndpointRef struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name"`
	Pod       string   `json:"pod,omitempty"`
	Node      string   `json:"node,omitempty"`
	Nets      []string `json:"nets,omitempty"`
}

func (r EndpointRef) String() string {
	name := r.Name
	if r.Pod != "" {
		name = r.Pod
	}
	if r.Namespace != "" {
		name = r.Namespace + "/" + name
	}
	var extra []string
	if r.Node != "" {
		extra = append(extra, "node "+r.Node)
	}
	extra = append(extra, r.Nets...)
	s := kindLabel(r.Kind) + " " + name
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

func kindLabel(kind string) string {
	switch kind {
	case model.KindWorkloadEndpoint:
		return "Workload endpoint"
	case "HostEndpoint":
		return "Host endpoint"
	}
	return kind
}

// refs maps keys to references with the details the graph knows.
func refs(st *State, keys []model.Key) []EndpointRef {
	eps := map[model.Key]calc.Endpoint{}
	for _, e := range st.Graph.Endpoints() {
		eps[e.Key] = e
	}
	items := map[model.Key]calc.Item{}
	for _, it := range st.Graph.Items() {
		items[it.Key] = it
	}
	out := make([]EndpointRef, 0, len(keys))
	for _, k := range keys {
		r := EndpointRef{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name}
		if e, ok := eps[k]; ok {
			r.Pod, r.Node = e.Pod, e.Node
		}
		for _, n := range items[k].Nets {
			r.Nets = append(r.Nets, n.String())
		}
		out = append(out, r)
	}
	return out
}

// EvalResult is what `calicoq eval` reports.
type EvalResult struct {
	Selector    string        `json:"selector"`
	Endpoints   []EndpointRef `json:"endpoints"`
	NetworkSets []EndpointRef `json:"networkSets"`
}

// Eval lists what a selector matches.
func Eval(st *State, text string) (*EvalResult, error) {
	sel, err := selector.Parse(text)
	if err != nil {
		return nil, err
	}
	res := &EvalResult{Selector: sel.String(), Endpoints: []EndpointRef{}, NetworkSets: []EndpointRef{}}
	for _, r := range refs(st, st.Graph.Select(sel)) {
		if r.Kind == model.KindWorkloadEndpoint || r.Kind == "HostEndpoint" {
			res.Endpoints = append(res.Endpoints, r)
		} else {
			res.NetworkSets = append(res.NetworkSets, r)
		}
	}
	return res, nil
}

// PolicyRef names a policy.
type PolicyRef = proto.PolicyID

// SideResult describes one side of a rule and what it selects.
type SideResult struct {
	Selector          string        `json:"selector,omitempty"`
	NotSelector       string        `json:"notSelector,omitempty"`
	NamespaceSelector string        `json:"namespaceSelector,omitempty"`
	ServiceAccounts   []string      `json:"serviceAccounts,omitempty"`
	Nets              []string      `json:"nets,omitempty"`
	NotNets           []string      `json:"notNets,omitempty"`
	Ports             []string      `json:"ports,omitempty"`
	NotPorts          []string      `json:"notPorts,omitempty"`
	Matches           []EndpointRef `json:"matches,omitempty"`
}

// RuleResult describes one rule.
type RuleResult struct {
	Index       int         `json:"index"`
	Action      string      `json:"action"`
	Source      *SideResult `json:"source,omitempty"`
	Destination *SideResult `json:"destination,omitempty"`
}

// PolicyResult is what `calicoq policy` reports.
type PolicyResult struct {
	Policy    PolicyRef     `json:"policy"`
	Tier      string        `json:"tier"`
	Order     *float64      `json:"order,omitempty"`
	Selector  string        `json:"selector"`
	AppliesTo []EndpointRef `json:"appliesTo"`
	Ingress   []RuleResult  `json:"ingress,omitempty"`
	Egress    []RuleResult  `json:"egress,omitempty"`
}

// FindPolicies resolves a policy name: "KIND/NAME", "KIND/NS/NAME", or a
// bare name looked up among namespaced kinds in namespace (if given) and
// global kinds otherwise.
func FindPolicies(st *State, name, namespace string) ([]proto.PolicyID, error) {
	var out []proto.PolicyID
	kind := ""
	parts := strings.Split(name, "/")
	switch len(parts) {
	case 2:
		kind, name = parts[0], parts[1]
	case 3:
		kind, namespace, name = parts[0], parts[1], parts[2]
	}
	if kind != "" {
		if k, ok := v3.KindFor(kind); ok {
			kind = k.Kind
		} else if strings.EqualFold(kind, model.KindKubernetesNetworkPolicy) || strings.EqualFold(kind, "knp") {
			kind = model.KindKubernetesNetworkPolicy
		} else {
			return nil, fmt.Errorf("unknown policy kind %q", kind)
		}
	}
	for _, id := range st.Graph.PolicyIDs() {
		if id.Name != name || (kind != "" && id.Kind != kind) {
			continue
		}
		if namespace != "" && id.Namespace != namespace && id.Namespace != "" {
			continue
		}
		if namespace != "" && id.Namespace == "" && kind == "" {
			continue
		}
		if namespace == "" && id.Namespace != "" && kind == "" {
			continue
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		where := "as a global policy"
		if namespace != "" {
			where = "in namespace " + namespace
		}
		return nil, fmt.Errorf("no policy named %q %s (use -n NAMESPACE for namespaced policies, or KIND/NAME)", name, where)
	}
	return out, nil
}

// Policy describes a policy: what it applies to and what its rules select.
func Policy(st *State, id proto.PolicyID) (*PolicyResult, error) {
	info, ok := st.Graph.PolicyInfo(id)
	if !ok {
		return nil, fmt.Errorf("policy %v does not exist", id)
	}
	res := &PolicyResult{Policy: id, Tier: info.Tier, Order: info.Order, Selector: info.Selector, AppliesTo: refs(st, info.AppliesTo)}
	rules := func(rs []*proto.Rule) []RuleResult {
		var out []RuleResult
		for _, r := range rs {
			rr := RuleResult{Index: int(r.Index), Action: r.Action}
			rr.Source = sideResult(st, id, r.Src, r.Source, false)
			rr.Destination = sideResult(st, id, r.Dst, r.Source, true)
			out = append(out, rr)
		}
		return out
	}
	res.Ingress = rules(info.Rendered.InboundRules)
	res.Egress = rules(info.Rendered.OutboundRules)
	return res, nil
}

func sideResult(st *State, id proto.PolicyID, s *proto.RuleSide, src *proto.RuleSource, dst bool) *SideResult {
	if s == nil {
		return nil
	}
	out := &SideResult{}
	if src != nil {
		if dst {
			out.Selector, out.NotSelector, out.NamespaceSelector, out.ServiceAccounts = src.DstSelector, src.DstNotSelector, src.DstNamespaceSelector, src.DstServiceAccounts
			out.Ports, out.NotPorts = src.DstPorts, src.DstNotPorts
		} else {
			out.Selector, out.NotSelector, out.NamespaceSelector, out.ServiceAccounts = src.SrcSelector, src.SrcNotSelector, src.SrcNamespaceSelector, src.SrcServiceAccounts
			out.Ports, out.NotPorts = src.SrcPorts, src.SrcNotPorts
		}
	}
	for _, n := range s.Nets {
		out.Nets = append(out.Nets, n.String())
	}
	for _, n := range s.NotNets {
		out.NotNets = append(out.NotNets, n.String())
	}
	if keys, ok := st.Graph.SideMatches(id, s); ok {
		out.Matches = refs(st, keys)
		if out.Matches == nil {
			out.Matches = []EndpointRef{}
		}
	}
	return out
}

// TierResult lists one tier's policies for an endpoint and direction.
type TierResult struct {
	Tier          string      `json:"tier"`
	DefaultAction string      `json:"defaultAction"`
	Policies      []PolicyRef `json:"policies"`
}

// SelectingRule is a rule whose source or destination selects an endpoint.
type SelectingRule struct {
	Policy    PolicyRef `json:"policy"`
	Direction string    `json:"direction"` // ingress or egress
	Rule      int       `json:"rule"`
	Side      string    `json:"side"` // source or destination
}

// EndpointResult is what `calicoq endpoint` and `calicoq host` report.
type EndpointResult struct {
	Endpoint   EndpointRef       `json:"endpoint"`
	Labels     map[string]string `json:"labels,omitempty"`
	Ingress    []TierResult      `json:"ingress"`
	Egress     []TierResult      `json:"egress"`
	Profiles   []string          `json:"profiles"`
	SelectedBy []SelectingRule   `json:"selectedBy"`
}

// Endpoints describes the endpoints a filter accepts.
func Endpoints(st *State, accept func(calc.Endpoint) bool) []EndpointResult {
	var out []EndpointResult
	for _, e := range st.Graph.Endpoints() {
		if !accept(e) {
			continue
		}
		r := EndpointResult{
			Endpoint: refs(st, []model.Key{e.Key})[0], Labels: e.Labels, Profiles: e.Profiles,
			Ingress: []TierResult{}, Egress: []TierResult{}, SelectedBy: []SelectingRule{},
		}
		for _, t := range e.Tiers {
			if len(t.IngressPolicies) > 0 {
				r.Ingress = append(r.Ingress, TierResult{Tier: t.Name, DefaultAction: t.DefaultAction, Policies: t.IngressPolicies})
			}
			if len(t.EgressPolicies) > 0 {
				r.Egress = append(r.Egress, TierResult{Tier: t.Name, DefaultAction: t.DefaultAction, Policies: t.EgressPolicies})
			}
		}
		for _, s := range st.Graph.PolicyRulesSelecting(e.Key) {
			sr := SelectingRule{Policy: s.Policy, Direction: "egress", Rule: s.Rule, Side: "source"}
			if s.Inbound {
				sr.Direction = "ingress"
			}
			if s.Destination {
				sr.Side = "destination"
			}
			r.SelectedBy = append(r.SelectedBy, sr)
		}
		out = append(out, r)
	}
	return out
}

// MatchesSubstring accepts endpoints whose name, pod or namespace/pod
// contains s.
func MatchesSubstring(s string) func(calc.Endpoint) bool {
	return func(e calc.Endpoint) bool {
		return strings.Contains(e.Key.Name, s) || strings.Contains(e.Key.Namespace+"/"+e.Pod, s) ||
			strings.Contains(e.Key.Namespace+"/"+e.Key.Name, s)
	}
}

// TraceResult is what `calicoq trace` reports.
type TraceResult struct {
	Verdict  string         `json:"verdict"`
	From     string         `json:"from"`
	To       string         `json:"to"`
	Protocol string         `json:"protocol"`
	Port     int            `json:"port,omitempty"`
	Egress   *calc.Decision `json:"egress"`
	// Via lists the host endpoints the packet is forwarded through.
	Via     []*calc.Decision `json:"via,omitempty"`
	Ingress *calc.Decision   `json:"ingress"`
}

// TraceQuery is a packet to trace.
type TraceQuery struct {
	From, To string // NAMESPACE/POD, hep:NAME or an IP address
	Protocol string // TCP, UDP, SCTP or ICMP
	Port     int
	// InInterface and OutInterface are the host interfaces the packet
	// arrives on and leaves by (for host endpoints); Node is the node whose
	// host endpoints apply when neither end says.
	InInterface, OutInterface, Node string
	// DNS holds answers of trusted DNS servers: a domain name and an
	// address it resolved to. The address joins the sets of the rules
	// that allow that name; From or To may then be the name.
	DNS []DNSAnswer
}

// DNSAnswer is a name and an address it resolved to.
type DNSAnswer struct {
	Name string
	Addr netip.Addr
}

// ParseDNSAnswer reads NAME=ADDRESS.
func ParseDNSAnswer(s string) (DNSAnswer, error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok {
		return DNSAnswer{}, fmt.Errorf("%q: give NAME=ADDRESS, as in api.example.com=192.0.2.10", s)
	}
	p, err := domainname.Parse(name)
	if err != nil {
		return DNSAnswer{}, err
	}
	if p.Wildcard() {
		return DNSAnswer{}, fmt.Errorf("%q: an answer is for a name, not a wildcard", name)
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return DNSAnswer{}, fmt.Errorf("%q: %q is not an IP address", s, addr)
	}
	return DNSAnswer{Name: p.String(), Addr: a}, nil
}

// Trace evaluates a packet from one endpoint or address to another.
func Trace(st *State, from, to, protocol string, port int) (*TraceResult, error) {
	return TracePacket(st, TraceQuery{From: from, To: to, Protocol: protocol, Port: port})
}

// TracePacket evaluates a packet.
func TracePacket(st *State, q TraceQuery) (*TraceResult, error) {
	from, to, protocol, port := q.From, q.To, q.Protocol, q.Port
	answered := map[string]netip.Addr{}
	for _, a := range q.DNS {
		st.Graph.LearnDomain(a.Name, a.Addr)
		if _, ok := answered[a.Name]; !ok {
			answered[a.Name] = a.Addr
		}
	}
	resolve := func(s string) (netip.Addr, error) {
		if a, ok := answered[domainname.Canonical(s)]; ok {
			return a, nil
		}
		return resolveAddr(st, s)
	}
	src, err := resolve(from)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	dst, err := resolve(to)
	if err != nil {
		return nil, fmt.Errorf("--to: %w", err)
	}
	if src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("--from %s and --to %s are of different IP versions", src, dst)
	}
	pkt := calc.Packet{Src: src, Dst: dst, ICMPType: -1, ICMPCode: -1,
		InInterface: q.InInterface, OutInterface: q.OutInterface, Node: q.Node}
	switch strings.ToUpper(protocol) {
	case "TCP":
		pkt.Protocol = 6
	case "UDP":
		pkt.Protocol = 17
	case "SCTP":
		pkt.Protocol = 132
	case "ICMP":
		pkt.Protocol, pkt.ICMPType, pkt.ICMPCode = 1, 8, 0
		if src.Is6() {
			pkt.Protocol, pkt.ICMPType = 58, 128
		}
	default:
		return nil, fmt.Errorf("--protocol %q: use TCP, UDP, SCTP or ICMP", protocol)
	}
	if pkt.Protocol != 1 && pkt.Protocol != 58 {
		if port < 1 || port > 65535 {
			return nil, fmt.Errorf("--port %d: give a port 1-65535 for %s", port, strings.ToUpper(protocol))
		}
		pkt.DstPort, pkt.SrcPort = uint16(port), 40000
	}
	t := st.Graph.Evaluate(pkt)
	res := &TraceResult{Verdict: t.Verdict, From: describeAddr(st, src, from), To: describeAddr(st, dst, to),
		Protocol: strings.ToUpper(protocol), Egress: t.Egress, Via: t.Via, Ingress: t.Ingress}
	if pkt.DstPort != 0 {
		res.Port = port
	}
	return res, nil
}

// hostEndpointAddr is the first expected IP of a host endpoint.
func hostEndpointAddr(st *State, name string) (netip.Addr, error) {
	var names []string
	for _, e := range st.Graph.Endpoints() {
		if e.Key.Kind != "HostEndpoint" {
			continue
		}
		if e.Key.Name == name {
			for _, n := range e.Nets {
				return n.Addr(), nil
			}
			return netip.Addr{}, fmt.Errorf("host endpoint %q has no expectedIPs: give one of the host's addresses instead", name)
		}
		names = append(names, e.Key.Name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return netip.Addr{}, fmt.Errorf("no host endpoint %q (there are no host endpoints)", name)
	}
	return netip.Addr{}, fmt.Errorf("no host endpoint %q (host endpoints: %s)", name, strings.Join(names, ", "))
}

// resolveAddr turns NAMESPACE/POD, hep:NAME or an address into an
// address.
func resolveAddr(st *State, s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	if name, ok := strings.CutPrefix(s, "hep:"); ok {
		return hostEndpointAddr(st, name)
	}
	ns, pod, ok := strings.Cut(s, "/")
	if !ok || ns == "" || pod == "" {
		return netip.Addr{}, fmt.Errorf("%q is neither NAMESPACE/POD nor an IP address", s)
	}
	var candidates []string
	for _, e := range st.Graph.Endpoints() {
		if e.Key.Kind != model.KindWorkloadEndpoint || e.Key.Namespace != ns {
			continue
		}
		if e.Pod == pod {
			for _, n := range e.Nets {
				return n.Addr(), nil
			}
			return netip.Addr{}, fmt.Errorf("pod %s has no address", s)
		}
		candidates = append(candidates, e.Pod)
	}
	sort.Strings(candidates)
	if len(candidates) > 10 {
		candidates = append(candidates[:10], "…")
	}
	if len(candidates) == 0 {
		return netip.Addr{}, fmt.Errorf("no pods in namespace %q", ns)
	}
	return netip.Addr{}, fmt.Errorf("no pod %q in namespace %q (pods there: %s)", pod, ns, strings.Join(candidates, ", "))
}

func describeAddr(st *State, a netip.Addr, given string) string {
	if k, ok := st.Graph.EndpointFor(a); ok && !strings.Contains(given, "/") {
		return fmt.Sprintf("%s (%s/%s)", a, k.Namespace, k.Name)
	}
	if strings.Contains(given, "/") || (given != a.String() && !strings.HasPrefix(given, "hep:")) {
		return fmt.Sprintf("%s (%s)", given, a)
	}
	return a.String()
}
