package calc

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

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
