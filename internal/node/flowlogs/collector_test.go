package flowlogs

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/node/flowlogs/event"
)

// The cluster of the tests: two nodes; node A runs frontend pods, node B
// the backend and db pods.
var (
	feA     = netip.MustParseAddr("10.0.1.5")
	feB     = netip.MustParseAddr("10.0.1.6")
	backend = netip.MustParseAddr("10.0.2.7")
	db      = netip.MustParseAddr("10.0.2.8")
	svcIP   = netip.MustParseAddr("10.96.0.10")
	public  = netip.MustParseAddr("8.8.8.8")
	private = netip.MustParseAddr("192.168.1.1")
	t0      = time.Unix(1700000000, 0)
)

type fakeEndpoints map[netip.Addr]Endpoint

func (f fakeEndpoints) Lookup(a netip.Addr) (Endpoint, bool) {
	e, ok := f[a]
	return e, ok
}

// endpoints is the view of a node; local are its own pods.
func endpoints(local ...netip.Addr) fakeEndpoints {
	eps := fakeEndpoints{
		feA:     {Type: "wep", Name: "frontend-5d8f9-abcde", AggrName: "frontend-5d8f9-*", Namespace: "demo", Labels: map[string]string{"app": "frontend", "pod": "a"}},
		feB:     {Type: "wep", Name: "frontend-5d8f9-fghij", AggrName: "frontend-5d8f9-*", Namespace: "demo", Labels: map[string]string{"app": "frontend", "pod": "b"}},
		backend: {Type: "wep", Name: "backend-7c6b5-klmno", AggrName: "backend-7c6b5-*", Namespace: "demo", Labels: map[string]string{"app": "backend"}},
		db:      {Type: "wep", Name: "db-0", AggrName: "db-*", Namespace: "data", Labels: map[string]string{"app": "db"}},
	}
	for _, a := range local {
		e := eps[a]
		e.Local = true
		eps[a] = e
	}
	return eps
}

type fakeRules map[string]Rule

func (f fakeRules) Describe(id string) (Rule, bool) {
	r, ok := f[id]
	return r, ok
}

func rules() fakeRules {
	return fakeRules{
		"AE0|pe-frontend": {Tier: "default", Name: "demo/default.frontend", Action: "allow", RuleIndex: 0, Kind: "NetworkPolicy", Namespace: "demo", Policy: "frontend"},
		"AI0|pi-backend":  {Tier: "default", Name: "demo/default.backend", Action: "allow", RuleIndex: 0, Ingress: true, Kind: "NetworkPolicy", Namespace: "demo", Policy: "backend"},
		"DI0|pi-deny-db":  {Tier: "security", Name: "security.deny-db", Action: "deny", RuleIndex: 0, Ingress: true, Kind: "GlobalNetworkPolicy", Policy: "deny-db"},
		"DI-1|pi-deny-db": {Tier: "security", Name: "security.deny-db", Action: "deny", RuleIndex: -1, Ingress: true, Kind: "GlobalNetworkPolicy", Policy: "deny-db"},
		"PI0|pi-sec":      {Tier: "security", Name: "security.pass-all", Action: "pass", RuleIndex: 0, Ingress: true, Kind: "GlobalNetworkPolicy", Policy: "pass-all"},
		"AI2|pi-app":      {Tier: "default", Name: "demo/knp.default.app", Action: "allow", RuleIndex: 2, Ingress: true, Kind: "KubernetesNetworkPolicy", Namespace: "demo", Policy: "knp.default.app"},
		"AE0|pro-kns":     {Tier: "__PROFILE__", Name: "__PROFILE__.kns.demo", Action: "allow", RuleIndex: 0, Kind: "Profile", Policy: "kns.demo"},
	}
}

type fakeServices map[netip.AddrPort][3]string

func (f fakeServices) Lookup(a netip.Addr, port uint16, _ uint8) (string, string, string, bool) {
	s, ok := f[netip.AddrPortFrom(a, port)]
	return s[0], s[1], s[2], ok
}

type fakePending struct{ calls int }

func (p *fakePending) Pending(t event.Tuple, ingress bool) ([]string, bool) {
	p.calls++
	return []string{"0|default|default.staged:audit|deny|0"}, true
}

func fullConfig() Config {
	return Config{
		Host: "node-a", EnabledAllowed: true, EnabledDenied: true,
		IncludeLabels: true, IncludePolicies: true, IncludeService: true,
		Now: func() time.Time { return t0 },
	}
}

func newCollector(t testing.TB, cfg Config, eps fakeEndpoints) *Collector {
	t.Helper()
	c, err := New(cfg, Deps{Endpoints: eps, Rules: rules(), Services: fakeServices{
		netip.AddrPortFrom(svcIP, 80): {"backend", "demo", "http"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tcp(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) event.Tuple {
	return event.Tuple{Proto: event.ProtoTCP, Src: src, Dst: dst, SrcPort: sport, DstPort: dport}
}

// conn is a conntrack observation of a connection without NAT.
func ctEvent(kind event.ConnKind, id uint32, t event.Tuple, op, ob, rp, rb uint64) event.Conn {
	return event.Conn{Kind: kind, ID: id, Orig: t, Reply: t.Reverse(), OrigPackets: op, OrigBytes: ob, ReplyPackets: rp, ReplyBytes: rb}
}

func verdict(prefix string, t event.Tuple, bytes int, at time.Time) event.Verdict {
	return event.Verdict{Prefix: prefix, Tuple: t, Bytes: bytes, At: at}
}

func str(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func num(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

func one(t *testing.T, recs []Record) Record {
	t.Helper()
	if len(recs) != 1 {
		t.Fatalf("want 1 record, got %d: %+v", len(recs), recs)
	}
	return recs[0]
}

func TestAllowedTCPAcrossTwoNodes(t *testing.T) {
	flow := tcp(feA, 40000, backend, 8080)

	// Node A: the client's node reports it as src.
	a := newCollector(t, fullConfig(), endpoints(feA))
	a.OnVerdict(verdict("AE0|pe-frontend", flow, 60, t0))
	a.OnConn(ctEvent(event.ConnStarted, 7, flow, 1, 60, 0, 0))
	a.OnConn(ctEvent(event.ConnCounters, 7, flow, 10, 1000, 8, 5000))
	r := one(t, a.Flush(t0.Add(time.Minute)))
	if r.Reporter != "src" || r.Action != "allow" || r.PacketsOut != 10 || r.BytesOut != 1000 || r.PacketsIn != 8 || r.BytesIn != 5000 {
		t.Errorf("src record: %+v", r)
	}
	if r.NumFlows != 1 || r.NumFlowsStarted != 1 || r.NumFlowsCompleted != 0 {
		t.Errorf("flows: %d %d %d", r.NumFlows, r.NumFlowsStarted, r.NumFlowsCompleted)
	}
	if got := r.Policies.EnforcedPolicies; !slices.Equal(got, []string{"0|default|demo/default.frontend|allow|0"}) {
		t.Errorf("enforced: %q", got)
	}
	if str(r.SourceIP) != "10.0.1.5" || num(r.SourcePort) != 40000 || str(r.DestIP) != "10.0.2.7" || num(r.DestPort) != 8080 {
		t.Errorf("addresses: %s:%d %s:%d", str(r.SourceIP), num(r.SourcePort), str(r.DestIP), num(r.DestPort))
	}
	if r.SourceName != "frontend-5d8f9-abcde" || r.SourceNameAggr != "frontend-5d8f9-*" || r.DestType != "wep" || r.DestNamespace != "demo" {
		t.Errorf("names: %+v", r)
	}
	if r.StartTime != t0.Unix() || r.EndTime != t0.Add(time.Minute).Unix() || r.Host != "node-a" || r.Proto != "tcp" {
		t.Errorf("times/host/proto: %d %d %s %s", r.StartTime, r.EndTime, r.Host, r.Proto)
	}

	// Node B: the server's node reports it as dst, counters reversed.
	b := newCollector(t, fullConfig(), endpoints(backend))
	b.OnVerdict(verdict("AI0|pi-backend", flow, 60, t0))
	b.OnConn(ctEvent(event.ConnStarted, 9, flow, 1, 60, 0, 0))
	b.OnConn(ctEvent(event.ConnCounters, 9, flow, 10, 1000, 8, 5000))
	r = one(t, b.Flush(t0.Add(time.Minute)))
	if r.Reporter != "dst" || r.PacketsIn != 10 || r.BytesIn != 1000 || r.PacketsOut != 8 || r.BytesOut != 5000 {
		t.Errorf("dst record: %+v", r)
	}
	if got := r.Policies.EnforcedPolicies; !slices.Equal(got, []string{"0|default|demo/default.backend|allow|0"}) {
		t.Errorf("enforced: %q", got)
	}
}

func TestBothEndsLocalGiveTwoRecords(t *testing.T) {
	flow := tcp(feA, 40000, feB, 80)
	c := newCollector(t, fullConfig(), endpoints(feA, feB))
	c.OnVerdict(verdict("AE0|pe-frontend", flow, 60, t0))
	c.OnVerdict(verdict("AI2|pi-app", flow, 60, t0))
	c.OnConn(ctEvent(event.ConnStarted, 1, flow, 3, 180, 2, 120))
	recs := c.Flush(t0.Add(time.Minute))
	if len(recs) != 2 || recs[0].Reporter != "dst" || recs[1].Reporter != "src" {
		t.Fatalf("records: %+v", recs)
	}
	if recs[0].PacketsIn != 3 || recs[1].PacketsOut != 3 {
		t.Errorf("counters: %+v", recs)
	}
}

func TestServiceDNAT(t *testing.T) {
	c := newCollector(t, fullConfig(), endpoints(feA))
	filtered := tcp(feA, 40000, backend, 8080) // what the filter saw, after DNAT
	c.OnVerdict(verdict("AE0|pe-frontend", filtered, 60, t0))
	c.OnConn(event.Conn{
		Kind: event.ConnStarted, ID: 3,
		Orig:        tcp(feA, 40000, svcIP, 80),
		Reply:       tcp(backend, 8080, feA, 40000),
		OrigPackets: 1, OrigBytes: 60,
	})
	r := one(t, c.Flush(t0.Add(time.Minute)))
	if r.DestServiceName != "backend" || r.DestServiceNamespace != "demo" || r.DestServicePortName != "http" || num(r.DestServicePortNum) != 80 {
		t.Errorf("service: %q %q %q %d", r.DestServiceName, r.DestServiceNamespace, r.DestServicePortName, num(r.DestServicePortNum))
	}
	if str(r.DestIP) != "10.0.2.7" || num(r.DestPort) != 8080 || r.DestName != "backend-7c6b5-klmno" {
		t.Errorf("destination is the backend: %s:%d %s", str(r.DestIP), num(r.DestPort), r.DestName)
	}
	if len(r.Policies.EnforcedPolicies) != 1 || r.PacketsOut != 1 {
		t.Errorf("the verdict and the connection were not joined: %+v", r)
	}

	// No DNAT: "-" and null.
	c.OnConn(ctEvent(event.ConnStarted, 4, tcp(feA, 40001, backend, 8080), 1, 60, 0, 0))
	recs := c.Flush(t0.Add(2 * time.Minute))
	for _, r := range recs {
		if num(r.SourcePort) == 40001 && (r.DestServiceName != "-" || r.DestServicePortName != "-" || r.DestServicePortNum != nil) {
			t.Errorf("no service: %+v", r)
		}
	}
}

func TestDenies(t *testing.T) {
	c := newCollector(t, fullConfig(), endpoints(db, feA))
	explicit := tcp(backend, 41000, db, 5432)
	tierEnd := tcp(backend, 41001, db, 5433)
	profileEnd := tcp(feA, 41002, public, 443)
	for range 3 { // a client retrying
		c.OnVerdict(verdict("DI0|pi-deny-db", explicit, 60, t0))
	}
	c.OnVerdict(verdict("DI-1|pi-deny-db", tierEnd, 60, t0))
	c.OnVerdict(verdict("DE-1|no profile", profileEnd, 52, t0))
	recs := c.Flush(t0.Add(time.Minute))
	if len(recs) != 3 {
		t.Fatalf("records: %+v", recs)
	}
	want := map[string]struct {
		policy          string
		reporter        string
		pktsIn, pktsOut int64
		bytes           int64
	}{
		"5432": {"0|security|security.deny-db|deny|0", "dst", 3, 0, 180},
		"5433": {"0|security|security.deny-db|deny|-1", "dst", 1, 0, 60},
		"443":  {"0|__PROFILE__|__PROFILE__.__NO_MATCH__|deny|-1", "src", 0, 1, 52},
	}
	for _, r := range recs {
		w, ok := want[jsonField(t, r, "dest_port")]
		if !ok {
			t.Fatalf("unexpected record %+v", r)
		}
		if r.Action != "deny" || r.Reporter != w.reporter || r.PacketsIn != w.pktsIn || r.PacketsOut != w.pktsOut || r.BytesIn+r.BytesOut != w.bytes {
			t.Errorf("%s: %+v", w.policy, r)
		}
		if !slices.Equal(r.Policies.EnforcedPolicies, []string{w.policy}) {
			t.Errorf("policies %q, want %q", r.Policies.EnforcedPolicies, w.policy)
		}
		if num(r.SourcePort) != -1 { // denied flows default to level 1... here level 0 is configured
		}
		if r.NumFlows != 1 || r.NumFlowsStarted != 1 || r.NumFlowsCompleted != 1 {
			t.Errorf("denied flows, quiet by the flush, are started and completed: %+v", r)
		}
	}
	if c.Live() != 0 {
		t.Errorf("%d flows left", c.Live())
	}
}

func jsonField(t *testing.T, r Record, name string) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return string(m[name])
}

func TestDeniedFlowSpanningIntervals(t *testing.T) {
	c := newCollector(t, fullConfig(), endpoints(db))
	flow := tcp(backend, 41000, db, 5432)
	c.OnVerdict(verdict("DI0|pi-deny-db", flow, 60, t0.Add(55*time.Second)))
	r := one(t, c.Flush(t0.Add(time.Minute)))
	if r.NumFlowsStarted != 1 || r.NumFlowsCompleted != 0 || r.PacketsIn != 1 {
		t.Errorf("first interval: %+v", r)
	}
	c.OnVerdict(verdict("DI0|pi-deny-db", flow, 60, t0.Add(65*time.Second)))
	r = one(t, c.Flush(t0.Add(2*time.Minute)))
	if r.NumFlows != 1 || r.NumFlowsStarted != 0 || r.NumFlowsCompleted != 1 || r.PacketsIn != 1 {
		t.Errorf("second interval: %+v", r)
	}
	if recs := c.Flush(t0.Add(3 * time.Minute)); len(recs) != 0 {
		t.Errorf("a finished denied flow is reported again: %+v", recs)
	}
}

func TestPassThenAllow(t *testing.T) {
	c := newCollector(t, fullConfig(), endpoints(feB))
	flow := tcp(feA, 40000, feB, 80)
	c.OnVerdict(verdict("PI0|pi-sec", flow, 60, t0))
	c.OnVerdict(verdict("AI2|pi-app", flow, 60, t0))
	c.OnConn(ctEvent(event.ConnStarted, 1, flow, 1, 60, 0, 0))
	r := one(t, c.Flush(t0.Add(time.Minute)))
	want := []string{"0|security|security.pass-all|pass|0", "1|default|demo/knp.default.app|allow|2"}
	if !slices.Equal(r.Policies.EnforcedPolicies, want) {
		t.Errorf("enforced %q, want %q", r.Policies.EnforcedPolicies, want)
	}
}

// aggregationFlows are four connections from node A's two frontend pods:
// three to the backend (two ports of feA, one of feB), one to a public
// address.
func aggregationFlows(c *Collector) {
	flows := []event.Tuple{
		tcp(feA, 40000, backend, 8080),
		tcp(feA, 40001, backend, 8080),
		tcp(feB, 40002, backend, 8081),
		tcp(feA, 40003, public, 443),
	}
	for i, f := range flows {
		c.OnVerdict(verdict("AE0|pe-frontend", f, 60, t0))
		c.OnConn(ctEvent(event.ConnStarted, uint32(i+1), f, 2, 100, 1, 50))
	}
}

func TestAggregationLevels(t *testing.T) {
	type rec struct {
		srcIP, srcName string
		srcPort        int64
		dstIP, dstName string
		dstAggr        string
		dstPort        int64
		flows          int64
	}
	cases := []struct {
		level int
		want  []rec
	}{
		{0, []rec{
			{"10.0.1.5", "frontend-5d8f9-abcde", 40000, "10.0.2.7", "backend-7c6b5-klmno", "backend-7c6b5-*", 8080, 1},
			{"10.0.1.5", "frontend-5d8f9-abcde", 40001, "10.0.2.7", "backend-7c6b5-klmno", "backend-7c6b5-*", 8080, 1},
			{"10.0.1.5", "frontend-5d8f9-abcde", 40003, "8.8.8.8", "-", "pub", 443, 1},
			{"10.0.1.6", "frontend-5d8f9-fghij", 40002, "10.0.2.7", "backend-7c6b5-klmno", "backend-7c6b5-*", 8081, 1},
		}},
		{1, []rec{
			{"10.0.1.5", "frontend-5d8f9-abcde", -1, "10.0.2.7", "backend-7c6b5-klmno", "backend-7c6b5-*", 8080, 2},
			{"10.0.1.5", "frontend-5d8f9-abcde", -1, "8.8.8.8", "-", "pub", 443, 1},
			{"10.0.1.6", "frontend-5d8f9-fghij", -1, "10.0.2.7", "backend-7c6b5-klmno", "backend-7c6b5-*", 8081, 1},
		}},
		{2, []rec{
			{"<null>", "-", -1, "<null>", "-", "backend-7c6b5-*", 8080, 2},
			{"<null>", "-", -1, "<null>", "-", "backend-7c6b5-*", 8081, 1},
			{"<null>", "-", -1, "<null>", "-", "pub", 443, 1},
		}},
		{3, []rec{
			{"<null>", "-", -1, "<null>", "-", "backend-7c6b5-*", -1, 3},
			{"<null>", "-", -1, "<null>", "-", "pub", -1, 1},
		}},
	}
	for _, tc := range cases {
		cfg := fullConfig()
		cfg.AggregationAllowed = tc.level
		c := newCollector(t, cfg, endpoints(feA, feB))
		aggregationFlows(c)
		recs := c.Flush(t0.Add(time.Minute))
		var got []rec
		for _, r := range recs {
			got = append(got, rec{str(r.SourceIP), r.SourceName, num(r.SourcePort), str(r.DestIP), r.DestName, r.DestNameAggr, num(r.DestPort), r.NumFlows})
			if r.SourceNameAggr != "frontend-5d8f9-*" || r.SourceNamespace != "demo" {
				t.Errorf("level %d: source %q %q", tc.level, r.SourceNameAggr, r.SourceNamespace)
			}
		}
		byText := func(a, b rec) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) }
		slices.SortFunc(got, byText)
		slices.SortFunc(tc.want, byText)
		if !slices.Equal(got, tc.want) {
			t.Errorf("level %d:\n got %+v\nwant %+v", tc.level, got, tc.want)
		}
	}
}

func TestAggregatedLabelsAreTheCommonOnes(t *testing.T) {
	cfg := fullConfig()
	cfg.AggregationAllowed = 3
	c := newCollector(t, cfg, endpoints(feA, feB))
	aggregationFlows(c)
	for _, r := range c.Flush(t0.Add(time.Minute)) {
		want := []string{"app=frontend"} // feA's and feB's
		if r.DestNameAggr == "pub" {
			want = []string{"app=frontend", "pod=a"} // feA's only
		}
		if !slices.Equal(r.SourceLabels.Labels, want) {
			t.Errorf("source labels %q, want %q", r.SourceLabels.Labels, want)
		}
		if r.DestNameAggr == "pub" && (r.DestLabels == nil || len(r.DestLabels.Labels) != 0) {
			t.Errorf("a network has no labels: %+v", r.DestLabels)
		}
	}
}

func TestNetworksAndNetworkSets(t *testing.T) {
	eps := endpoints(feA)
	eps[private] = Endpoint{Type: "ns", Name: "office", AggrName: "office", Namespace: "", Labels: map[string]string{"kind": "office"}}
	for _, sets := range []bool{false, true} {
		cfg := fullConfig()
		cfg.EnableNetworkSets = sets
		c := newCollector(t, cfg, eps)
		f := tcp(feA, 40000, private, 22)
		c.OnConn(ctEvent(event.ConnStarted, 1, f, 1, 60, 0, 0))
		r := one(t, c.Flush(t0.Add(time.Minute)))
		want := [4]string{"net", "-", "pvt", "-"}
		if sets {
			want = [4]string{"ns", "office", "office", "-"}
		}
		if got := [4]string{r.DestType, r.DestName, r.DestNameAggr, r.DestNamespace}; got != want {
			t.Errorf("network sets %v: got %q want %q", sets, got, want)
		}
	}
	for a, want := range map[string]string{"10.1.2.3": "pvt", "100.64.1.1": "pvt", "127.0.0.1": "pvt", "169.254.1.1": "pvt", "fd00::1": "pvt", "fe80::1": "pvt", "1.1.1.1": "pub", "2001:db8::1": "pub"} {
		if got := subnetName(netip.MustParseAddr(a)); got != want {
			t.Errorf("%s: %s, want %s", a, got, want)
		}
	}
}

func TestSwitches(t *testing.T) {
	cfg := fullConfig()
	cfg.IncludeLabels, cfg.IncludePolicies, cfg.IncludeService = false, false, false
	c := newCollector(t, cfg, endpoints(feA))
	c.OnVerdict(verdict("AE0|pe-frontend", tcp(feA, 40000, backend, 8080), 60, t0))
	c.OnConn(event.Conn{Kind: event.ConnStarted, ID: 3, Orig: tcp(feA, 40000, svcIP, 80), Reply: tcp(backend, 8080, feA, 40000), OrigPackets: 1, OrigBytes: 60})
	r := one(t, c.Flush(t0.Add(time.Minute)))
	for _, f := range []string{"source_labels", "dest_labels", "policies", "dest_service_port_num"} {
		if got := jsonField(t, r, f); got != "null" {
			t.Errorf("%s = %s, want null", f, got)
		}
	}
	for _, f := range []string{"dest_service_name", "dest_service_namespace", "dest_service_port"} {
		if got := jsonField(t, r, f); got != `"-"` {
			t.Errorf("%s = %s, want \"-\"", f, got)
		}
	}

	// Allowed or denied records off: nothing.
	cfg = fullConfig()
	cfg.EnabledAllowed = false
	c = newCollector(t, cfg, endpoints(feA))
	c.OnConn(ctEvent(event.ConnStarted, 1, tcp(feA, 40000, backend, 8080), 1, 60, 0, 0))
	c.OnVerdict(verdict("DE-1|no profile", tcp(feA, 40001, public, 443), 60, t0))
	r = one(t, c.Flush(t0.Add(time.Minute)))
	if r.Action != "deny" {
		t.Errorf("allowed records are off: %+v", r)
	}
}

func TestPendingPolicies(t *testing.T) {
	p := &fakePending{}
	c, err := New(fullConfig(), Deps{Endpoints: endpoints(feA), Rules: rules(), Pending: p})
	if err != nil {
		t.Fatal(err)
	}
	aggregationFlows(c)
	if err := c.SetConfig(func() Config { cfg := fullConfig(); cfg.AggregationAllowed = 2; return cfg }()); err != nil {
		t.Fatal(err)
	}
	recs := c.Flush(t0.Add(time.Minute))
	for _, r := range recs {
		if !slices.Equal(r.Policies.PendingPolicies, []string{"0|default|default.staged:audit|deny|0"}) || len(r.Policies.TransitPolicies) != 0 {
			t.Errorf("policies %+v", r.Policies)
		}
	}
	if p.calls != len(recs) {
		t.Errorf("the oracle is asked once per record: %d calls, %d records", p.calls, len(recs))
	}
}

func TestSetConfigMidInterval(t *testing.T) {
	c := newCollector(t, fullConfig(), endpoints(feA, feB)) // level 0
	aggregationFlows(c)
	cfg := fullConfig()
	cfg.AggregationAllowed = 3
	cfg.Host = "renamed"
	if err := c.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	recs := c.Flush(t0.Add(time.Minute))
	if len(recs) != 2 || recs[0].NumFlows+recs[1].NumFlows != 4 || recs[0].Host != "renamed" {
		t.Errorf("the interval is kept and reported with the new settings: %+v", recs)
	}
	if recs[0].StartTime != t0.Unix() {
		t.Errorf("start %d", recs[0].StartTime)
	}
	cfg.AggregationDenied = 4
	if err := c.SetConfig(cfg); err == nil {
		t.Error("level 4 accepted")
	}
}

func TestIntervalDeltasAndFlowCounts(t *testing.T) {
	c := newCollector(t, fullConfig(), endpoints(feA))
	flow := tcp(feA, 40000, backend, 8080)
	c.OnVerdict(verdict("AE0|pe-frontend", flow, 60, t0))
	c.OnConn(ctEvent(event.ConnStarted, 5, flow, 1, 60, 0, 0))
	c.OnConn(ctEvent(event.ConnCounters, 5, flow, 10, 1000, 5, 500))
	r := one(t, c.Flush(t0.Add(time.Minute)))
	if r.PacketsOut != 10 || r.NumFlowsStarted != 1 || r.NumFlowsCompleted != 0 {
		t.Errorf("interval 1: %+v", r)
	}
	// Nothing new: the connection still appears.
	c.OnConn(ctEvent(event.ConnCounters, 5, flow, 10, 1000, 5, 500))
	r = one(t, c.Flush(t0.Add(2*time.Minute)))
	if r.PacketsOut != 0 || r.BytesIn != 0 || r.NumFlows != 1 || r.NumFlowsStarted != 0 || r.NumFlowsCompleted != 0 {
		t.Errorf("interval 2: %+v", r)
	}
	if len(r.Policies.EnforcedPolicies) != 1 {
		t.Errorf("a long-lived connection keeps its policies: %+v", r.Policies)
	}
	c.OnConn(ctEvent(event.ConnCounters, 5, flow, 15, 1500, 7, 700))
	c.OnConn(ctEvent(event.ConnEnded, 5, flow, 20, 2000, 9, 900))
	r = one(t, c.Flush(t0.Add(3*time.Minute)))
	if r.PacketsOut != 10 || r.BytesOut != 1000 || r.PacketsIn != 4 || r.BytesIn != 400 || r.NumFlowsCompleted != 1 || r.NumFlowsStarted != 0 {
		t.Errorf("interval 3: %+v", r)
	}
	if recs := c.Flush(t0.Add(4 * time.Minute)); len(recs) != 0 || c.Live() != 0 {
		t.Errorf("an ended connection is reported again: %+v", recs)
	}

	// Started and ended within one interval.
	c.OnVerdict(verdict("AE0|pe-frontend", flow, 60, t0))
	c.OnConn(ctEvent(event.ConnStarted, 6, flow, 1, 60, 0, 0))
	c.OnConn(ctEvent(event.ConnEnded, 6, flow, 3, 180, 2, 120))
	r = one(t, c.Flush(t0.Add(5*time.Minute)))
	if r.NumFlowsStarted != 1 || r.NumFlowsCompleted != 1 || r.PacketsOut != 3 {
		t.Errorf("short connection: %+v", r)
	}
}

func TestTupleReuse(t *testing.T) {
	c := newCollector(t, fullConfig(), endpoints(feA))
	flow := tcp(feA, 40000, backend, 8080)
	c.OnVerdict(verdict("AE0|pe-frontend", flow, 60, t0))
	c.OnConn(ctEvent(event.ConnStarted, 5, flow, 1, 60, 0, 0))
	c.OnConn(ctEvent(event.ConnEnded, 5, flow, 4, 240, 3, 180))
	// The same tuple again before the flush.
	c.OnVerdict(verdict("AE0|pe-frontend", flow, 60, t0))
	c.OnConn(ctEvent(event.ConnStarted, 6, flow, 1, 60, 0, 0))
	c.OnConn(ctEvent(event.ConnCounters, 6, flow, 2, 120, 1, 60))
	cfg := fullConfig()
	cfg.AggregationAllowed = 1
	if err := c.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	r := one(t, c.Flush(t0.Add(time.Minute)))
	if r.NumFlows != 2 || r.NumFlowsStarted != 2 || r.NumFlowsCompleted != 1 || r.PacketsOut != 6 || r.PacketsIn != 4 {
		t.Errorf("two connections on one tuple: %+v", r)
	}
}

func TestRestartDoesNotCountTwice(t *testing.T) {
	flow := tcp(feA, 40000, backend, 8080)
	// A new collector (calico-node restarted) finds the connection in
	// the dump before its first flush: totals 100 packets, of which the
	// previous process reported what it saw.
	c := newCollector(t, fullConfig(), endpoints(feA))
	c.OnConn(ctEvent(event.ConnCounters, 5, flow, 100, 10000, 80, 8000))
	r := one(t, c.Flush(t0.Add(time.Minute)))
	if r.PacketsOut != 0 || r.BytesIn != 0 || r.NumFlows != 1 || r.NumFlowsStarted != 0 {
		t.Errorf("first interval after a restart: %+v", r)
	}
	if len(r.Policies.EnforcedPolicies) != 0 || r.Action != "allow" {
		t.Errorf("a connection without verdicts is allowed, with no policies: %+v", r)
	}
	c.OnConn(ctEvent(event.ConnCounters, 5, flow, 130, 13000, 90, 9000))
	r = one(t, c.Flush(t0.Add(2*time.Minute)))
	if r.PacketsOut != 30 || r.BytesOut != 3000 || r.PacketsIn != 10 || r.BytesIn != 1000 {
		t.Errorf("second interval: %+v", r)
	}
	// Ended before any reading: nothing counted, completed.
	f2 := tcp(feA, 40001, backend, 8080)
	c.OnConn(ctEvent(event.ConnEnded, 9, f2, 50, 5000, 50, 5000))
	for _, r := range c.Flush(t0.Add(3 * time.Minute)) {
		if num(r.SourcePort) == 40001 && (r.PacketsOut != 0 || r.NumFlowsCompleted != 1) {
			t.Errorf("ended unknown connection: %+v", r)
		}
	}
}

func TestNotOurs(t *testing.T) {
	// Neither end local (host traffic, forwarded traffic): no record.
	c := newCollector(t, fullConfig(), endpoints())
	c.OnConn(ctEvent(event.ConnStarted, 1, tcp(private, 40000, public, 443), 1, 60, 0, 0))
	if recs := c.Flush(t0.Add(time.Minute)); len(recs) != 0 {
		t.Errorf("records: %+v", recs)
	}
	// A verdict for the remote end without the host endpoint mark (no
	// such rule runs here) is no transit policy.
	c = newCollector(t, fullConfig(), endpoints(feA))
	flow := tcp(public, 50000, feA, 80)
	c.OnVerdict(verdict("AE0|pro-kns", flow, 60, t0))
	c.OnVerdict(verdict("AI0|pi-backend", flow, 60, t0))
	c.OnConn(ctEvent(event.ConnStarted, 1, flow, 1, 60, 0, 0))
	r := one(t, c.Flush(t0.Add(time.Minute)))
	if r.Reporter != "dst" || len(r.Policies.TransitPolicies) != 0 {
		t.Errorf("transit: %+v", r.Policies)
	}
}

// The host endpoint mark of the tests, and host endpoint rules.
const hostMark = 0x40000

func hostRules(rs fakeRules) fakeRules {
	gnp := func(name, action string, ingress bool) Rule {
		return Rule{Tier: "default", Name: "default." + name, Action: action, Ingress: ingress, Kind: "GlobalNetworkPolicy", Policy: name}
	}
	rs["AI0|pi-pre"] = gnp("pre-dnat", "allow", true)
	rs["DI0|pi-pre-deny"] = gnp("pre-dnat-deny", "deny", true)
	rs["AI0|pi-fwd"] = gnp("forward", "allow", true)
	rs["DE0|pe-fwd-deny"] = gnp("forward-deny", "deny", false)
	return rs
}

// hostVerdict is a host endpoint chain's verdict (marked) in a hook.
func hostVerdict(prefix string, t event.Tuple, hook uint8) event.Verdict {
	v := verdict(prefix, t, 60, t0)
	v.Hook, v.Mark = hook, hostMark|0x10000
	return v
}

func TestTransitPolicies(t *testing.T) {
	newC := func(scope bool, reg *prometheus.Registry) *Collector {
		cfg := fullConfig()
		cfg.TransitPolicies, cfg.HostEndpointMark = scope, hostMark
		deps := Deps{Endpoints: endpoints(feA), Rules: hostRules(rules())}
		if reg != nil {
			m, err := NewMetrics(reg, "node-a")
			if err != nil {
				t.Fatal(err)
			}
			deps.Metrics = m
		}
		c, err := New(cfg, deps)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// In from outside, through the host's pre-DNAT and forward policies,
	// to a local pod whose own policy allows it.
	in := tcp(public, 50000, feA, 80)
	inbound := func(c *Collector) {
		c.OnVerdict(hostVerdict("AI0|pi-pre", in, event.HookPrerouting))
		c.OnVerdict(hostVerdict("AI0|pi-fwd", in, event.HookForward))
		c.OnVerdict(verdict("AI0|pi-backend", in, 60, t0)) // the pod's chain clears the mark
		c.OnConn(ctEvent(event.ConnStarted, 1, in, 5, 500, 4, 400))
	}
	for _, scope := range []bool{false, true} {
		c := newC(scope, nil)
		inbound(c)
		r := one(t, c.Flush(t0.Add(time.Minute)))
		want := []string{}
		if scope {
			want = []string{"0|default|default.pre-dnat|allow|0", "1|default|default.forward|allow|0"}
		}
		if r.Action != "allow" || r.Reporter != "dst" || r.PacketsIn != 5 ||
			!slices.Equal(r.Policies.EnforcedPolicies, []string{"0|default|demo/default.backend|allow|0"}) ||
			!slices.Equal(r.Policies.TransitPolicies, want) {
			t.Errorf("AllPolicies %v: %+v %+v; want transit %q", scope, r, r.Policies, want)
		}
	}

	reg := prometheus.NewRegistry()
	c := newC(true, reg)
	// Denied before DNAT: three SYNs, no endpoint verdict; the pod's
	// record is a denial with the host's policy as transit.
	denied := tcp(public, 50001, feA, 80)
	for range 3 {
		c.OnVerdict(hostVerdict("DI0|pi-pre-deny", denied, event.HookPrerouting))
	}
	// Out from a local pod: its policy allows, the leaving interface's
	// forward policy denies; twice. Each packet counts once.
	out := tcp(feA, 40000, public, 443)
	for range 2 {
		c.OnVerdict(verdict("AE0|pe-frontend", out, 60, t0))
		c.OnVerdict(hostVerdict("DE0|pe-fwd-deny", out, event.HookForward))
	}
	recs := c.Flush(t0.Add(time.Minute))
	if len(recs) != 2 {
		t.Fatalf("records: %+v", recs)
	}
	for _, r := range recs {
		switch r.Reporter {
		case "dst":
			if r.Action != "deny" || r.PacketsIn != 3 || r.BytesIn != 180 || len(r.Policies.EnforcedPolicies) != 0 ||
				!slices.Equal(r.Policies.TransitPolicies, []string{"0|default|default.pre-dnat-deny|deny|0"}) {
				t.Errorf("denied before DNAT: %+v %+v", r, r.Policies)
			}
		case "src":
			if r.Action != "deny" || r.PacketsOut != 2 || r.BytesOut != 120 ||
				!slices.Equal(r.Policies.EnforcedPolicies, []string{"0|default|demo/default.frontend|allow|0"}) ||
				!slices.Equal(r.Policies.TransitPolicies, []string{"0|default|default.forward-deny|deny|0"}) {
				t.Errorf("denied on the way out: %+v %+v", r, r.Policies)
			}
		}
	}
	for _, tc := range []struct {
		src, policy string
		want        float64
	}{{public.String(), "default|pre-dnat-deny|0|deny", 3}, {feA.String(), "default|forward-deny|0|deny", 2}} {
		l := map[string]string{"srcIP": tc.src, "policy": tc.policy, "instance": "node-a"}
		if got, ok := metricValue(t, reg, "calico_denied_packets", l); !ok || got != tc.want {
			t.Errorf("calico_denied_packets %v = %v (found %v), want %v", l, got, ok, tc.want)
		}
	}

	// A host endpoint's verdict in the input hook is the host's own
	// (the host is the flow's end), not transit.
	c = newC(true, nil)
	inbound(c)
	toHost := tcp(public, 50002, feA, 22)
	c.OnVerdict(hostVerdict("AI0|pi-fwd", toHost, event.HookInput))
	c.OnConn(ctEvent(event.ConnStarted, 2, toHost, 1, 60, 0, 0))
	for _, r := range c.Flush(t0.Add(time.Minute)) {
		if num(r.DestPort) == 22 && (len(r.Policies.TransitPolicies) != 0 || len(r.Policies.EnforcedPolicies) != 1) {
			t.Errorf("input hook: %+v", r.Policies)
		}
	}
}

func TestHostEndpoints(t *testing.T) {
	host := netip.MustParseAddr("192.168.0.10")
	eps := endpoints()
	eps[host] = Endpoint{Type: "hep", Name: "node-a-eth0", AggrName: "node-a", Local: true}
	flow := tcp(host, 40000, public, 443)
	for _, on := range []bool{false, true} {
		cfg := fullConfig()
		cfg.EnableHostEndpoint = on
		c := newCollector(t, cfg, eps)
		c.OnVerdict(verdict("AE0|pe-frontend", flow, 60, t0))
		c.OnConn(ctEvent(event.ConnStarted, 1, flow, 1, 60, 0, 0))
		recs := c.Flush(t0.Add(time.Minute))
		if !on && len(recs) != 0 {
			t.Errorf("host endpoints off: %+v", recs)
		}
		if on && (len(recs) != 1 || recs[0].SourceType != "hep" || recs[0].SourceNameAggr != "node-a" || recs[0].SourceNamespace != "-") {
			t.Errorf("host endpoints on: %+v", recs)
		}
	}
}

func TestVerdictsWaitForConntrack(t *testing.T) {
	// An allowed first packet whose conntrack entry is not yet seen at
	// the flush is not reported on its own (it would count as started
	// twice); it is joined when conntrack's event comes.
	c := newCollector(t, fullConfig(), endpoints(feA))
	flow := tcp(feA, 40000, backend, 8080)
	c.OnVerdict(verdict("AE0|pe-frontend", flow, 60, t0.Add(59*time.Second)))
	if recs := c.Flush(t0.Add(time.Minute)); len(recs) != 0 {
		t.Errorf("records: %+v", recs)
	}
	c.OnConn(ctEvent(event.ConnStarted, 1, flow, 1, 60, 0, 0))
	r := one(t, c.Flush(t0.Add(2*time.Minute)))
	if r.NumFlowsStarted != 1 || len(r.Policies.EnforcedPolicies) != 1 || r.PacketsOut != 1 {
		t.Errorf("joined: %+v", r)
	}
	// Allowed here but never confirmed (dropped further on): reported
	// from NFLOG once quiet.
	f2 := tcp(feA, 40001, backend, 8080)
	c.OnVerdict(verdict("AE0|pe-frontend", f2, 60, t0.Add(2*time.Minute)))
	for _, r := range c.Flush(t0.Add(3 * time.Minute)) {
		if num(r.SourcePort) == 40001 && (r.Action != "allow" || r.PacketsOut != 1 || r.NumFlowsStarted != 1 || r.NumFlowsCompleted != 1) {
			t.Errorf("unconfirmed: %+v", r)
		}
	}
}

func TestJSON(t *testing.T) {
	c := newCollector(t, fullConfig(), endpoints(feA))
	c.OnVerdict(verdict("AE0|pe-frontend", tcp(feA, 40000, backend, 8080), 60, t0))
	c.OnConn(ctEvent(event.ConnStarted, 1, tcp(feA, 40000, backend, 8080), 1, 60, 0, 0))
	b, err := json.Marshal(one(t, c.Flush(t0.Add(time.Minute))))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"start_time": float64(t0.Unix()), "end_time": float64(t0.Unix() + 60), "host": "node-a",
		"source_ip": "10.0.1.5", "source_port": float64(40000), "source_type": "wep", "source_namespace": "demo",
		"dest_ip": "10.0.2.7", "dest_port": float64(8080), "proto": "tcp", "action": "allow", "reporter": "src",
		"num_flows": float64(1), "num_flows_started": float64(1), "num_flows_completed": float64(0),
		"packets_out": float64(1), "bytes_out": float64(60), "packets_in": float64(0),
		"process_name": "-", "process_id": "-", "num_process_names": float64(0),
		"nat_outgoing_ports": nil, "dest_domains": nil, "original_source_ips": nil,
	} {
		if got, ok := m[k]; !ok || !jsonEqual(got, want) {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	labels := m["source_labels"].(map[string]any)["labels"].([]any)
	if len(labels) != 2 || labels[0] != "app=frontend" || labels[1] != "pod=a" {
		t.Errorf("labels %v", labels)
	}
	pol := m["policies"].(map[string]any)
	for _, k := range []string{"enforced_policies", "pending_policies", "transit_policies"} {
		if _, ok := pol[k].([]any); !ok {
			t.Errorf("policies.%s = %v, want a list", k, pol[k])
		}
	}
	if ProtoName(17) != "udp" || ProtoName(1) != "icmp" || ProtoName(58) != "icmp6" || ProtoName(47) != "47" {
		t.Error("proto names")
	}
}

func jsonEqual(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

func TestICMPHasNoPorts(t *testing.T) {
	c := newCollector(t, fullConfig(), endpoints(feA))
	ping := event.Tuple{Proto: event.ProtoICMP, Src: feA, Dst: public}
	c.OnVerdict(verdict("AE0|pe-frontend", ping, 84, t0))
	c.OnConn(ctEvent(event.ConnStarted, 1, ping, 1, 84, 1, 84))
	r := one(t, c.Flush(t0.Add(time.Minute)))
	if r.SourcePort != nil || r.DestPort != nil || r.Proto != "icmp" {
		t.Errorf("icmp: %+v", r)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	rs := rules()
	c, err := New(fullConfig(), Deps{Endpoints: endpoints(feB, db), Rules: rs, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	flow := tcp(feA, 40000, feB, 80)
	c.OnVerdict(verdict("PI0|pi-sec", flow, 60, t0))
	c.OnVerdict(verdict("AI2|pi-app", flow, 60, t0))
	c.OnConn(ctEvent(event.ConnStarted, 1, flow, 4, 400, 3, 300))
	denied := tcp(backend, 41000, db, 5432)
	c.OnVerdict(verdict("DI0|pi-deny-db", denied, 60, t0))
	c.OnVerdict(verdict("DI0|pi-deny-db", denied, 60, t0))
	c.Flush(t0.Add(time.Minute))

	app := map[string]string{"action": "allow", "tier": "default", "namespace": "demo", "policy": "knp.default.app",
		"kind": "KubernetesNetworkPolicy", "rule_direction": "ingress", "rule_index": "2", "instance": "node-b"}
	with := func(l map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range l {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"cnx_policy_rule_packets", with(app, "traffic_direction", "inbound"), 4},
		{"cnx_policy_rule_packets", with(app, "traffic_direction", "outbound"), 3},
		{"cnx_policy_rule_bytes", with(app, "traffic_direction", "inbound"), 400},
		{"cnx_policy_rule_bytes", with(app, "traffic_direction", "outbound"), 300},
		{"cnx_policy_rule_connections", with(app, "traffic_direction", "inbound", "action", ""), 1},
		{"cnx_policy_rule_connections", map[string]string{"tier": "security", "namespace": "__GLOBAL__", "policy": "pass-all",
			"kind": "GlobalNetworkPolicy", "rule_direction": "ingress", "rule_index": "0", "traffic_direction": "inbound", "instance": "node-b"}, 0},
		{"calico_denied_packets", map[string]string{"srcIP": "10.0.2.7", "policy": "security|deny-db|0|deny", "instance": "node-b"}, 2},
		{"calico_denied_bytes", map[string]string{"srcIP": "10.0.2.7", "policy": "security|deny-db|0|deny", "instance": "node-b"}, 120},
	} {
		if got, ok := metricValue(t, reg, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s %v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if n := seriesCount(t, reg, "cnx_policy_rule_packets"); n != 6 { // app, pass-all and deny-db, inbound and outbound
		t.Errorf("packet series: %d", n)
	}

	// The app policy is deleted: its series go at the next flush.
	delete(rs, "AI2|pi-app")
	c.Flush(t0.Add(2 * time.Minute))
	if n := seriesCount(t, reg, "cnx_policy_rule_packets"); n != 4 {
		t.Errorf("after deleting a policy: %d packet series, want 4", n)
	}
	if n := seriesCount(t, reg, "calico_denied_packets"); n != 1 {
		t.Errorf("denied series: %d", n)
	}
	// Denied series go when quiet long enough.
	c.Flush(t0.Add(time.Minute + DeniedMetricsRetention))
	if n := seriesCount(t, reg, "calico_denied_packets"); n != 0 {
		t.Errorf("denied series left: %d", n)
	}
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func seriesCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}, Deps{}); err == nil {
		t.Error("no lookups accepted")
	}
	if _, err := New(Config{AggregationAllowed: -1}, Deps{Endpoints: fakeEndpoints{}, Rules: fakeRules{}}); err == nil {
		t.Error("level -1 accepted")
	}
}

func TestFallbackRules(t *testing.T) {
	for id, want := range map[string]string{
		"DE-1|no profile":  "0|__PROFILE__|__PROFILE__.__NO_MATCH__|deny|-1",
		"DI-1|pi-gone":     "0|__UNKNOWN__|__UNKNOWN__|deny|-1",
		"DI|tier security": "0|security|security.__NO_MATCH__|deny|-1",
		"DE|no profile":    "0|__PROFILE__|__PROFILE__.__NO_MATCH__|deny|-1",
		"AI3|pi-gone":      "0|__UNKNOWN__|__UNKNOWN__|allow|3",
	} {
		r, _ := fallbackRule(id)
		if got := policyString(0, r); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	for _, p := range []string{"", "calico-packet: AI0|x", "XI0|x", "AX0|x", "AI0x"} {
		if _, _, ok := parsePrefix(p); ok {
			t.Errorf("%q taken for a rule ID", p)
		}
	}
}

type fakeDomains map[netip.Addr][]string

func (d fakeDomains) Lookup(a netip.Addr, _ time.Time) []string { return d[a] }

// TestDestDomains: a destination outside the cluster carries the names
// DNS answers gave it, also when aggregation hides its address; an
// endpoint's does not.
func TestDestDomains(t *testing.T) {
	for _, level := range []int{0, 2} {
		cfg := fullConfig()
		cfg.AggregationAllowed = level
		c, err := New(cfg, Deps{Endpoints: endpoints(feA, feB), Rules: rules(), Domains: fakeDomains{
			private: {"api.example.test", "www.example.test"}, feB: {"b.example.test"}}})
		if err != nil {
			t.Fatal(err)
		}
		c.OnConn(ctEvent(event.ConnStarted, 1, tcp(feA, 40000, private, 443), 1, 60, 0, 0))
		r := one(t, c.Flush(t0.Add(time.Minute)))
		if !slices.Equal(r.DestDomains, []string{"api.example.test", "www.example.test"}) {
			t.Errorf("level %d: dest_domains %v", level, r.DestDomains)
		}
		c.OnConn(ctEvent(event.ConnStarted, 2, tcp(feA, 40001, feB, 80), 1, 60, 0, 0))
		for _, r := range c.Flush(t0.Add(2 * time.Minute)) {
			if r.DestType == "wep" && r.DestDomains != nil {
				t.Errorf("level %d: a workload's record has dest_domains %v", level, r.DestDomains)
			}
		}
	}
}
