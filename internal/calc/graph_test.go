package calc

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

const node = "node-1"

// The scenario: two namespaces, pods on this node and elsewhere, tiers,
// global and namespaced policies, a network set; then a sequence of
// changes to all of them.
func scenario() []state {
	base := state{name: "base"}.with(builtinTiers()...).with(
		nsProfile("prod", map[string]string{"env": "prod"}),
		nsProfile("dev", map[string]string{"env": "dev"}),
		saProfile("prod", "api", map[string]string{"role": "backend"}),
		wep(node, "prod", "web-1", "10.0.0.1", map[string]string{"app": "web"},
			withPorts(v3.WorkloadEndpointPort{Name: "http", Protocol: v3.ProtocolFromString("TCP"), Port: 8080})),
		wep(node, "prod", "api-1", "10.0.0.2", map[string]string{"app": "api"}, withSA("api")),
		wep("node-2", "prod", "web-2", "10.0.1.1", map[string]string{"app": "web"},
			withPorts(v3.WorkloadEndpointPort{Name: "http", Protocol: v3.ProtocolFromString("TCP"), Port: 9090})),
		wep("node-2", "dev", "tool", "10.0.1.2", map[string]string{"app": "tool"}),
		gns("blocked", map[string]string{"list": "bad"}, "192.0.2.0/24"),
	)
	security := tier("security", 100, v3.Pass)
	deny := gnp("security.block", "security", 10, "all()",
		[]v3.Rule{{Action: v3.Deny, Source: v3.EntityRule{Selector: "list == 'bad'"}}}, nil)
	allowWeb := np("prod", "allow-web", 100, "app == 'web'",
		[]v3.Rule{{Action: v3.Allow, Protocol: tcp(), Source: v3.EntityRule{Selector: "app == 'api'"}, Destination: v3.EntityRule{Ports: []v3.Port{v3.NamedPort("http")}}}}, nil)
	apiEgress := np("prod", "api-egress", 50, "app == 'api'", nil,
		[]v3.Rule{{Action: v3.Allow, Destination: v3.EntityRule{Selector: "app == 'web'", NamespaceSelector: "env == 'prod'"}}})
	fromBackend := gnp("from-backend", "default", 200, "app == 'web'",
		[]v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{ServiceAccounts: &v3.ServiceAccountMatch{Selector: "role == 'backend'"}}}}, nil)

	s1 := base.with(security, deny).named("security tier")
	s2 := s1.with(allowWeb, apiEgress).named("namespaced policies")
	s3 := s2.with(fromBackend).named("service account rule")
	s4 := s3.with(wep(node, "prod", "web-1", "10.0.0.9", map[string]string{"app": "web", "v": "2"},
		withPorts(v3.WorkloadEndpointPort{Name: "http", Protocol: v3.ProtocolFromString("TCP"), Port: 8081}))).named("pod readdressed")
	s5 := s4.with(tier("security", 2000000, v3.Deny)).named("tier reordered")
	s6 := s5.with(gns("blocked", map[string]string{"list": "bad"}, "198.51.100.0/24", "203.0.113.7/32")).named("network set changed")
	s7 := s6.without(model.Key{Kind: model.KindProfile, Name: "kns.dev"}).named("namespace profile gone")
	s8 := s7.without(allowWeb.Key, model.Key{Kind: model.KindWorkloadEndpoint, Namespace: "prod", Name: "node--1-k8s-api--1-eth0"}).named("pod and policy deleted")
	return []state{base, s1, s2, s3, s4, s5, s6, s7, s8}
}

// TestStatePathIndependence replays the scenario's states in several orders
// and requires the dataplane to end up identical after every state,
// whatever path led there: forward, reversed, shuffled, each state from
// empty, and with the updates of each step shuffled.
func TestStatePathIndependence(t *testing.T) {
	states := scenario()
	// The reference: each state computed from scratch.
	want := map[string]*proto.State{}
	for _, s := range states {
		want[s.name] = run(t, node, []state{s}, nil)[0]
	}
	check := func(t *testing.T, seq []state, shuffle *rand.Rand) {
		t.Helper()
		got := run(t, node, seq, shuffle)
		for i, s := range seq {
			if d := diffState(got[i], want[s.name]); d != "" {
				t.Fatalf("after %q (step %d): %s", s.name, i, d)
			}
		}
	}
	t.Run("forward", func(t *testing.T) { check(t, states, nil) })
	t.Run("reversed", func(t *testing.T) {
		rev := slices.Clone(states)
		slices.Reverse(rev)
		check(t, rev, nil)
	})
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 42))
		seq := slices.Clone(states)
		r.Shuffle(len(seq), func(a, b int) { seq[a], seq[b] = seq[b], seq[a] })
		t.Run("shuffled", func(t *testing.T) { check(t, seq, r) })
	}
	t.Run("via empty", func(t *testing.T) {
		var seq []state
		for _, s := range states {
			seq = append(seq, state{name: "empty"}, s)
		}
		want["empty"] = run(t, node, []state{{name: "empty"}}, nil)[0]
		check(t, seq, nil)
	})
}

func TestScenarioOutput(t *testing.T) {
	states := scenario()
	got := run(t, node, states[:4], nil)
	s3 := got[3]
	web := s3.Workloads[proto.WorkloadEndpointID{Namespace: "prod", Name: "node--1-k8s-web--1-eth0"}]
	if web == nil {
		t.Fatal("no local endpoint prod/web-1")
	}
	// security (100) before default (1e6); within default, allow-web (100)
	// before from-backend (200).
	var tierNames []string
	for _, ti := range web.Tiers {
		tierNames = append(tierNames, ti.Name)
	}
	if !slices.Equal(tierNames, []string{"security", "default"}) {
		t.Fatalf("tiers %v", tierNames)
	}
	def := web.Tiers[1]
	if len(def.IngressPolicies) != 2 || def.IngressPolicies[0].Name != "allow-web" || def.IngressPolicies[1].Name != "from-backend" {
		t.Errorf("default tier ingress policies %v", def.IngressPolicies)
	}
	if len(def.EgressPolicies) != 0 {
		t.Errorf("egress policies %v, want none (ingress-only policies)", def.EgressPolicies)
	}
	if web.Tiers[0].DefaultAction != "Pass" || def.DefaultAction != "Deny" {
		t.Errorf("default actions %s %s", web.Tiers[0].DefaultAction, def.DefaultAction)
	}
	// Remote endpoints are not local endpoints.
	if len(s3.Workloads) != 2 {
		t.Errorf("local endpoints %v, want web-1 and api-1", len(s3.Workloads))
	}

	// IP sets: the api selector limited to prod holds api-1's address; the
	// named-port set holds both web pods' (address, port); the network set's
	// CIDR is in the blocked-list set.
	pol := s3.Policies[proto.PolicyID{Kind: "NetworkPolicy", Namespace: "prod", Name: "allow-web"}]
	if pol == nil {
		t.Fatal("allow-web not active")
	}
	r := pol.InboundRules[0]
	if r.Src == nil || len(r.Src.IPSetIDs) != 1 || r.Dst == nil || len(r.Dst.NamedPortIPSetIDs) != 1 {
		t.Fatalf("rule sets %+v", r)
	}
	wantMembers(t, s3, r.Src.IPSetIDs[0], "10.0.0.2/32")
	wantMembers(t, s3, r.Dst.NamedPortIPSetIDs[0], "10.0.0.1/32,tcp:8080", "10.0.1.1/32,tcp:9090")
	block := s3.Policies[proto.PolicyID{Kind: "GlobalNetworkPolicy", Name: "security.block"}]
	wantMembers(t, s3, block.InboundRules[0].Src.IPSetIDs[0], "192.0.2.0/24")
	// serviceAccounts.selector matches through the service account profile.
	fb := s3.Policies[proto.PolicyID{Kind: "GlobalNetworkPolicy", Name: "from-backend"}]
	wantMembers(t, s3, fb.InboundRules[0].Src.IPSetIDs[0], "10.0.0.2/32")
	// Namespace selector on the egress rule: web pods in env=prod only.
	eg := s3.Policies[proto.PolicyID{Kind: "NetworkPolicy", Namespace: "prod", Name: "api-egress"}]
	wantMembers(t, s3, eg.OutboundRules[0].Dst.IPSetIDs[0], "10.0.0.1/32", "10.0.1.1/32")

	// A missing namespace profile is sent as deny-all.
	got = run(t, node, states, nil)
	last := got[len(got)-1]
	if p := last.Profiles["kns.dev"]; p != nil {
		t.Errorf("kns.dev is used by no local endpoint, yet active")
	}
}

func wantMembers(t *testing.T, s *proto.State, id string, want ...string) {
	t.Helper()
	set, ok := s.IPSets[id]
	if !ok {
		t.Errorf("IP set %s missing", id)
		return
	}
	var got []string
	for m := range set {
		got = append(got, m.String())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("IP set %s members %v, want %v", id, got, want)
	}
}

func TestMissingProfileFailsClosed(t *testing.T) {
	s := state{name: "s"}.with(wep(node, "ghost", "p", "10.1.0.1", nil))
	got := run(t, node, []state{s}, nil)[0]
	p := got.Profiles["kns.ghost"]
	if p == nil || len(p.InboundRules) != 1 || p.InboundRules[0].Action != "Deny" {
		t.Fatalf("profile of a missing namespace: %+v, want deny-all", p)
	}
}

func TestEvaluate(t *testing.T) {
	s := scenario()[3]
	g := New(Config{Hostname: node}, func([]proto.Message) {})
	var ups []model.Update
	for _, kv := range s.kvs {
		ups = append(ups, model.Update{KVPair: kv})
	}
	g.OnUpdates(ups)
	g.Flush()
	pkt := func(src, dst string, port uint16) Packet {
		return Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Protocol: 6, SrcPort: 40000, DstPort: port, ICMPType: -1, ICMPCode: -1}
	}
	// api-1 → web-1:8080: the security tier passes (no bad source), then
	// allow-web allows by its named port.
	tr := g.Evaluate(pkt("10.0.0.2", "10.0.0.1", 8080))
	if tr.Verdict != "Allow" || tr.Ingress == nil || tr.Ingress.Policy == nil || tr.Ingress.Policy.Name != "allow-web" || *tr.Ingress.Rule != 0 {
		t.Fatalf("api→web:8080: %+v ingress %+v", tr, tr.Ingress)
	}
	if tr.Egress == nil || tr.Egress.Policy == nil || tr.Egress.Policy.Name != "api-egress" {
		t.Errorf("api egress decided by %+v, want api-egress", tr.Egress)
	}
	// Another port: from-backend allows it (service account rule).
	tr = g.Evaluate(pkt("10.0.0.2", "10.0.0.1", 22))
	if tr.Verdict != "Allow" || tr.Ingress.Policy.Name != "from-backend" {
		t.Errorf("api→web:22: %+v", tr.Ingress)
	}
	// From the blocked network set: denied by the security tier.
	tr = g.Evaluate(pkt("192.0.2.9", "10.0.0.1", 8080))
	if tr.Verdict != "Deny" || tr.Ingress.Tier != "security" || tr.Ingress.Policy.Name != "security.block" {
		t.Errorf("blocked source: %+v", tr.Ingress)
	}
	if tr.Egress.Reason != ReasonNoEndpoint || tr.Egress.Verdict != "Allow" {
		t.Errorf("an outside source has no egress policy: %+v", tr.Egress)
	}
	// From a dev pod: no rule allows it; the default tier drops it.
	tr = g.Evaluate(pkt("10.0.1.2", "10.0.0.1", 8080))
	if tr.Verdict != "Deny" || tr.Ingress.Reason != ReasonTierDefault || tr.Ingress.Tier != "default" {
		t.Errorf("dev→web: %+v", tr.Ingress)
	}
	// To api-1 (no ingress policy): the namespace profile allows.
	tr = g.Evaluate(pkt("10.0.0.1", "10.0.0.2", 80))
	if tr.Verdict != "Allow" || tr.Ingress.Reason != ReasonProfile || tr.Ingress.Profile != "kns.prod" {
		t.Errorf("web→api: %+v", tr.Ingress)
	}
}

func hep(name, nodeName, iface string, labels map[string]string, ips ...string) model.KVPair {
	return model.KVPair{Key: model.Key{Kind: "HostEndpoint", Name: name}, Value: &v3.HostEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       v3.HostEndpointSpec{Node: nodeName, InterfaceName: iface, ExpectedIPs: ips, Profiles: []string{v3.DefaultAllowProfile}},
	}}
}

func endpointSlice(ns, name, svc string, port int32, ips ...string) model.KVPair {
	tcpProto := corev1.ProtocolTCP
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		Ports:      []discoveryv1.EndpointPort{{Port: &port, Protocol: &tcpProto}},
	}
	for _, ip := range ips {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}})
	}
	return model.KVPair{Key: model.Key{Kind: model.KindEndpointSlice, Namespace: ns, Name: name}, Value: es}
}

// hostScenario covers host endpoints and their policy options, services,
// a pod that gets its address late, and a policy needed everywhere.
func hostScenario() []state {
	gnpWith := func(name string, order float64, sel string, mod func(*v3.GlobalNetworkPolicySpec)) model.KVPair {
		kv := gnp(name, "default", order, sel, []v3.Rule{{Action: v3.Allow}}, nil)
		mod(&kv.Value.(*v3.GlobalNetworkPolicy).Spec)
		return kv
	}
	base := state{name: "hosts"}.with(builtinTiers()...).with(
		nsProfile("prod", nil),
		hep("node-1-eth0", node, "eth0", map[string]string{"host": "yes"}, "192.168.0.1"),
		hep("node-1-all", node, "*", map[string]string{"host": "yes", "all": "true"}),
		hep("node-2-eth0", "node-2", "eth0", map[string]string{"host": "yes"}, "192.168.0.2"),
		gnpWith("host-normal", 10, "host == 'yes'", func(s *v3.GlobalNetworkPolicySpec) {}),
		gnpWith("host-forward", 20, "host == 'yes'", func(s *v3.GlobalNetworkPolicySpec) { s.ApplyOnForward = true }),
		gnpWith("host-prednat", 30, "host == 'yes'", func(s *v3.GlobalNetworkPolicySpec) { s.PreDNAT, s.ApplyOnForward = true, true }),
		gnpWith("host-untracked", 40, "host == 'yes'", func(s *v3.GlobalNetworkPolicySpec) { s.DoNotTrack, s.ApplyOnForward = true, true }),
		wep(node, "prod", "late", "10.0.0.5", map[string]string{"app": "late"}),
	)
	// The pod first has no address.
	late := base.kvs[len(base.kvs)-1]
	noIP := *late.Value.(*v3.WorkloadEndpoint)
	noIP.Spec.IPNetworks = nil
	s0 := base.with(model.KVPair{Key: late.Key, Value: &noIP}).named("pod without address")
	svcPolicy := gnp("to-web-service", "default", 50, "app == 'late'", nil,
		[]v3.Rule{{Action: v3.Allow, Protocol: tcp(), Destination: v3.EntityRule{Services: &v3.ServiceMatch{Name: "web", Namespace: "prod"}}}})
	s1 := s0.with(svcPolicy, endpointSlice("prod", "web-1", "web", 8080, "10.0.1.1")).named("service policy")
	s2 := s1.with(late).named("pod gets its address")
	s3 := s2.with(endpointSlice("prod", "web-1", "web", 8080, "10.0.1.1", "10.0.1.2")).named("service grows")
	everywhere := gnp("everywhere", "default", 60, "app == 'remote-only'", []v3.Rule{allowFrom("app == 'late'")}, nil)
	everywhere.Value.(*v3.GlobalNetworkPolicy).Spec.PerformanceHints = []v3.PolicyPerformanceHint{v3.PerfHintAssumeNeededOnEveryNode}
	remoteOnly := gnp("remote-only", "default", 70, "app == 'remote-only'", []v3.Rule{allowFrom("app == 'nobody-local'")}, nil)
	s4 := s3.with(everywhere, remoteOnly).named("policies for remote pods")
	s5 := s4.without(model.Key{Kind: "HostEndpoint", Name: "node-1-all"}).named("host endpoint removed")
	return []state{s0, s1, s2, s3, s4, s5}
}

func TestHostScenarioPathIndependence(t *testing.T) {
	states := hostScenario()
	want := map[string]*proto.State{}
	for _, s := range states {
		want[s.name] = run(t, node, []state{s}, nil)[0]
	}
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 7))
		seq := slices.Clone(states)
		if seed > 0 {
			r.Shuffle(len(seq), func(a, b int) { seq[a], seq[b] = seq[b], seq[a] })
		}
		got := run(t, node, seq, r)
		for i, s := range seq {
			if d := diffState(got[i], want[s.name]); d != "" {
				t.Fatalf("seed %d, after %q: %s", seed, s.name, d)
			}
		}
	}
}

func TestHostEndpointsAndLocality(t *testing.T) {
	states := hostScenario()
	got := run(t, node, states, nil)
	last := got[len(got)-1]
	if _, ok := last.Hosts["node-2-eth0"]; ok {
		t.Error("a host endpoint of another node is local")
	}
	h := got[4].Hosts["node-1-eth0"]
	if h == nil {
		t.Fatal("no local host endpoint node-1-eth0")
	}
	names := func(tiers []proto.TierInfo) []string {
		var out []string
		for _, ti := range tiers {
			for _, id := range ti.IngressPolicies {
				out = append(out, id.Name)
			}
		}
		return out
	}
	for _, c := range []struct {
		what  string
		tiers []proto.TierInfo
		want  []string
	}{
		{"normal", h.Tiers, []string{"host-normal", "host-forward"}},
		{"forward", h.ForwardTiers, []string{"host-forward"}},
		{"pre-DNAT", h.PreDNATTiers, []string{"host-prednat"}},
		{"untracked", h.UntrackedTiers, []string{"host-untracked"}},
	} {
		if got := names(c.tiers); !slices.Equal(got, c.want) {
			t.Errorf("%s tiers %v, want %v", c.what, got, c.want)
		}
	}
	if _, ok := got[4].Hosts["node-1-all"]; !ok {
		t.Error("the all-interfaces host endpoint is missing")
	}
	// Pre-DNAT and untracked policies never apply to workloads.
	late := got[4].Workloads[proto.WorkloadEndpointID{Namespace: "prod", Name: "node--1-k8s-late-eth0"}]
	for _, ti := range late.Tiers {
		for _, id := range ti.IngressPolicies {
			if strings.HasPrefix(id.Name, "host-") {
				t.Errorf("host policy %s applies to a workload", id.Name)
			}
		}
	}
	// Node-local filtering: a policy that selects only remote pods is not
	// sent, unless it is needed everywhere.
	if _, ok := got[4].Policies[proto.PolicyID{Kind: "GlobalNetworkPolicy", Name: "remote-only"}]; ok {
		t.Error("a policy selecting no local endpoint was sent")
	}
	ev := got[4].Policies[proto.PolicyID{Kind: "GlobalNetworkPolicy", Name: "everywhere"}]
	if ev == nil {
		t.Fatal("a policy with AssumeNeededOnEveryNode was not sent")
	}
	// The late pod's address joins the set once it has one.
	set := ev.InboundRules[0].Src.IPSetIDs[0]
	wantMembers(t, got[4], set, "10.0.0.5/32")
	svc := got[3].Policies[proto.PolicyID{Kind: "GlobalNetworkPolicy", Name: "to-web-service"}]
	wantMembers(t, got[3], svc.OutboundRules[0].Dst.ServiceIPSetIDs[0], "10.0.1.1/32,tcp:8080", "10.0.1.2/32,tcp:8080")
	wantMembers(t, got[1], svc.OutboundRules[0].Dst.ServiceIPSetIDs[0], "10.0.1.1/32,tcp:8080")
}

// TestDomainRules: a rule naming domains matches the addresses in one
// set per distinct list of names (case and order do not matter), which
// the graph leaves empty for the node to fill from DNS answers; until
// then the rule allows nothing.
func TestDomainRules(t *testing.T) {
	toDomains := func(name string, order float64, domains ...string) model.KVPair {
		return gnp(name, "default", order, "app == 'client'", nil,
			[]v3.Rule{{Action: v3.Allow, Protocol: tcp(), Destination: v3.EntityRule{Domains: domains}}})
	}
	s := state{name: "domains"}.with(builtinTiers()...).with(
		nsProfile("prod", nil),
		wep(node, "prod", "client", "10.0.0.5", map[string]string{"app": "client"}),
		toDomains("a", 10, "api.example.test", "*.example.test"),
		toDomains("b", 20, "*.Example.test.", "api.example.test"),
		toDomains("c", 30, "other.test"),
	)
	st := run(t, node, []state{s}, nil)[0]
	setOf := func(name string) string {
		p := st.Policies[proto.PolicyID{Kind: "GlobalNetworkPolicy", Name: name}]
		if p == nil || len(p.OutboundRules) != 1 || p.OutboundRules[0].Dst == nil || len(p.OutboundRules[0].Dst.IPSetIDs) != 1 {
			t.Fatalf("policy %s: %+v", name, p)
		}
		return p.OutboundRules[0].Dst.IPSetIDs[0]
	}
	a, b, c := setOf("a"), setOf("b"), setOf("c")
	if !strings.HasPrefix(a, "dom:") || a != b || a == c {
		t.Errorf("domain sets %q, %q, %q: want one dom: set for a and b and another for c", a, b, c)
	}
	for _, id := range []string{a, c} {
		if members, ok := st.IPSets[id]; !ok || len(members) != 0 {
			t.Errorf("set %s: present %v with %d members, want present and empty", id, ok, len(members))
		}
	}
	g := New(Config{}, func([]proto.Message) {})
	pkt := Packet{Src: netip.MustParseAddr("10.0.0.5"), Dst: netip.MustParseAddr("192.0.2.10"), Protocol: 6, SrcPort: 40000, DstPort: 443, ICMPType: -1}
	if g.ruleMatches(st.Policies[proto.PolicyID{Kind: "GlobalNetworkPolicy", Name: "a"}].OutboundRules[0], pkt) {
		t.Error("a rule naming domains matches an address no answer gave")
	}
}

// TestNetworkSetDomains: a network set's allowedEgressDomains count in
// the sets of egress rules' destination selectors that match it, as
// answered, and only there: an ingress rule's source selector over the
// same set does not get them.
func TestNetworkSetDomains(t *testing.T) {
	dp := proto.NewState()
	g := New(Config{Hostname: node}, func(msgs []proto.Message) {
		if err := dp.Apply(msgs); err != nil {
			t.Fatal(err)
		}
	})
	ext := gns("ext", map[string]string{"kind": "external"}, "198.51.100.0/24")
	ext.Value.(*v3.GlobalNetworkSet).Spec.AllowedEgressDomains = []string{"*.example.test"}
	var ups []model.Update
	for _, kv := range []model.KVPair{nsProfile("prod", nil), wep(node, "prod", "client", "10.0.0.5", map[string]string{"app": "client"}), ext,
		gnp("out", "default", 10, "app == 'client'", []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: "kind == 'external'"}}},
			[]v3.Rule{{Action: v3.Allow, Destination: v3.EntityRule{Selector: "kind == 'external'"}}})} {
		ups = append(ups, model.Update{KVPair: kv})
	}
	for _, kv := range builtinTiers() {
		ups = append(ups, model.Update{KVPair: kv})
	}
	g.OnUpdates(ups)
	g.OnStatusUpdated(model.InSync)
	g.Flush()
	pol := dp.Policies[proto.PolicyID{Kind: "GlobalNetworkPolicy", Name: "out"}]
	egressSet, ingressSet := pol.OutboundRules[0].Dst.IPSetIDs[0], pol.InboundRules[0].Src.IPSetIDs[0]
	members := func(id string) []string {
		var out []string
		for m := range dp.IPSets[id] {
			out = append(out, m.Net.String())
		}
		slices.Sort(out)
		return out
	}
	check := func(step string, egress []string) {
		t.Helper()
		if got := members(egressSet); !slices.Equal(got, egress) {
			t.Errorf("%s: egress set %v, want %v", step, got, egress)
		}
		if got, want := members(ingressSet), egress[len(egress)-1:]; !slices.Equal(got, want) {
			t.Errorf("%s: ingress set %v, want only the set's nets %v", step, got, want)
		}
	}
	check("no answers", []string{"198.51.100.0/24"})
	api, cdn := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.20")
	if !g.LearnDomain("api.example.test", api) || !g.LearnDomain("cdn.example.test", api) || !g.LearnDomain("cdn.example.test", cdn) {
		t.Fatal("answers under *.example.test did not match the network set")
	}
	if g.LearnDomain("api.other.test", netip.MustParseAddr("192.0.2.99")) {
		t.Error("an answer no set names matched")
	}
	g.Flush()
	check("answered", []string{"192.0.2.10/32", "192.0.2.20/32", "198.51.100.0/24"})
	// Two names gave 192.0.2.10: it stays until both are forgotten.
	g.ForgetDomain("api.example.test", api)
	g.ForgetDomain("cdn.example.test", cdn)
	g.Flush()
	check("one name forgotten", []string{"192.0.2.10/32", "198.51.100.0/24"})
	// New domains drop what the old ones learned.
	ext2 := gns("ext", map[string]string{"kind": "external"}, "198.51.100.0/24")
	ext2.Value.(*v3.GlobalNetworkSet).Spec.AllowedEgressDomains = []string{"api.other.test"}
	g.OnUpdates([]model.Update{{KVPair: ext2}})
	g.Flush()
	check("domains changed", []string{"198.51.100.0/24"})
	g.LearnDomain("api.other.test", netip.MustParseAddr("192.0.2.99"))
	g.Flush()
	check("answered again", []string{"192.0.2.99/32", "198.51.100.0/24"})
	g.OnUpdates([]model.Update{{KVPair: model.KVPair{Key: ext2.Key}}})
	g.Flush()
	if got := members(egressSet); len(got) != 0 {
		t.Errorf("set deleted: egress set %v, want empty", got)
	}
}
