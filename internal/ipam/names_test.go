package ipam

import (
	"net/netip"
	"strings"
	"testing"

	v3 "github.com/calicong/calico/api/v3"
)

// TestHostnameHash: Calico's hostname hash, against values computed
// outside Go (goldenHostnameHash); every one fits a label value.
func TestHostnameHash(t *testing.T) {
	for name, want := range goldenHostnameHash {
		if got := HostnameHash(name); got != want {
			t.Errorf("HostnameHash(%q) = %s, want %s", name, got, want)
		}
	}
	if got := HostnameHash(strings.Repeat("n", 253)); len(got) != 52 {
		t.Errorf("hash of a 253-character name: %d characters", len(got))
	}
}

// TestAffinityName: Calico's names (ipam_affinity_v1.go parseKey), the
// long ones' hashes computed outside Go with Python's hashlib.sha256.
func TestAffinityName(t *testing.T) {
	b4 := netip.MustParsePrefix("10.60.0.0/26")
	for _, tc := range []struct{ node, cidr, want string }{
		{"node-a", "10.60.0.0/26", "node-a-10-60-0-0-26"},
		{"node-a", "fd00:60::/122", "node-a-fd00-60---122"},
		{VirtualPrefix + "load-balancer", "10.61.0.0/28", "load-balancer-10-61-0-0-28"},
		// 252 characters: kept.
		{strings.Repeat("a", 239), "10.60.0.0/26", strings.Repeat("a", 239) + "-10-60-0-0-26"},
		// 253 and more: cut short, and a hash of owner+block added.
		{strings.Repeat("a", 240), "10.60.0.0/26", strings.Repeat("a", 227) + "-10-60-0-0-26-80de34f910b"},
		{"node-" + strings.Repeat("x", 240), "10.60.0.0/26", "node-" + strings.Repeat("x", 222) + "-10-60-0-0-26-79122b82a08"},
	} {
		if got := AffinityName(tc.node, netip.MustParsePrefix(tc.cidr)); got != tc.want {
			t.Errorf("AffinityName(%q, %s) = %q, want %q", tc.node, tc.cidr, got, tc.want)
		}
	}
	// Not a valid object name even so: a hash.
	if got := AffinityName("Node_A", b4); !strings.HasPrefix(got, "h-") {
		t.Errorf("AffinityName of an invalid name: %q", got)
	}
}

// TestLongNodeName: a node whose name is too long for a label value is
// found by its hash, and its affinity has Calico's cut-short name.
func TestLongNodeName(t *testing.T) {
	e := newEnv(t)
	e.pool("p", "10.60.0.0/24", 26)
	long := "node-" + strings.Repeat("x", 240)
	first := e.mustAssign(long, "h1", 1, 0).IPv4[0]
	got, _ := e.s.ListCachedSelected(e.ctx, KindAffinity, calicoSelector(long))
	if len(got) != 1 || got[0].(*v3.BlockAffinity).Spec.Node != long || got[0].GetName() != AffinityName(long, first.Masked()) {
		t.Fatalf("affinities listed by the long name's labels: %+v", got)
	}
	if second := e.mustAssign(long, "h2", 1, 0).IPv4[0]; !first.Masked().Contains(second.Addr()) {
		t.Errorf("second address %s not from the node's block %s", second, first.Masked())
	}
	e.consistent()
}

// TestUpgradeHost: affinities stored before (this project's old label,
// no type, a virtual owner's hashed name) get Calico's labels, type and
// name: a node's only when named, every owner's with "". The blocks are
// used afterwards, found by the labelled look alone.
func TestUpgradeHost(t *testing.T) {
	e := newEnv(t)
	cs := &countingStore{memStore: e.s}
	e.m = New(Options{Store: cs, Now: e.m.now})
	e.pool("p", "10.60.0.0/24", 26)
	e.pool("lb", "10.61.0.0/24", 28, func(s *v3.IPPoolSpec) {
		s.AllowedUses = []v3.IPPoolAllowedUse{v3.IPPoolAllowedUseLoadBalancer}
	})
	old := func(name, node, typ, cidr string) {
		t.Helper()
		a := KindAffinity.New().(*v3.BlockAffinity)
		a.Name = name
		a.Labels = map[string]string{"projectcalico.org/node": node, "keep": "me"}
		a.Spec = v3.BlockAffinitySpec{State: v3.StateConfirmed, Node: node, Type: typ, CIDR: cidr}
		if _, err := e.s.Create(e.ctx, a); err != nil {
			t.Fatal(err)
		}
		aff := typ + ":" + node
		if typ == "" {
			aff = "host:" + node
		}
		if _, err := e.s.Create(e.ctx, emptyBlock(netip.MustParsePrefix(cidr), aff, e.now)); err != nil {
			t.Fatal(err)
		}
	}
	old("node-a-10-60-0-0-26", "node-a", "", "10.60.0.0/26")
	old("node-b-10-60-0-64-26", "node-b", "host", "10.60.0.64/26")
	old("h-56f8308c57f0bc46a13f6409df56b647f7f35494", "load-balancer", "virtual", "10.61.0.16/28")

	if err := e.m.UpgradeHost(e.ctx, "node-a"); err != nil {
		t.Fatal(err)
	}
	a := e.affinitiesOf("node-a")
	if len(a) != 1 || a[0].Spec.Type != "host" || a[0].Labels["keep"] != "me" {
		t.Fatalf("node-a's affinity after UpgradeHost: %+v", a)
	}
	wantCalicoLabels(t, a[0], goldenHostnameHash["node-a"], "host", "4")
	if b := e.affinitiesOf("node-b"); len(b) != 1 || b[0].Labels[calicoHashLabel] != "" {
		t.Errorf("UpgradeHost(node-a) changed node-b's affinity: %+v", b)
	}
	if err := e.m.UpgradeHost(e.ctx, ""); err != nil {
		t.Fatal(err)
	}
	lb := e.affinitiesOf("load-balancer")
	if len(lb) != 1 || lb[0].Name != "load-balancer-10-61-0-16-28" {
		t.Fatalf("the virtual owner's affinities after UpgradeHost: %+v", lb)
	}
	wantCalicoLabels(t, lb[0], goldenHostnameHash["load-balancer"], "virtual", "4")
	b := e.affinitiesOf("node-b")
	if len(b) != 1 {
		t.Fatalf("node-b's affinities: %+v", b)
	}
	wantCalicoLabels(t, b[0], HostnameHash("node-b"), "host", "4")
	// Done: a second run writes nothing.
	writes := e.s.writes
	if err := e.m.UpgradeHost(e.ctx, ""); err != nil || e.s.writes != writes {
		t.Errorf("a second UpgradeHost: %v, %d writes", err, e.s.writes-writes)
	}
	// The blocks are found by the labelled look and used.
	for node, block := range map[string]string{"node-a": "10.60.0.0/26", "node-b": "10.60.0.64/26"} {
		if got := e.mustAssign(node, node+"-h", 1, 0).IPv4[0]; !netip.MustParsePrefix(block).Contains(got.Addr()) {
			t.Errorf("%s got %s, not from its block %s", node, got, block)
		}
	}
	v, err := e.m.AutoAssign(e.ctx, AssignArgs{Num4: 1, HandleID: "lb-1", Node: VirtualPrefix + "load-balancer", Use: v3.IPPoolAllowedUseLoadBalancer})
	if err != nil || !netip.MustParsePrefix("10.61.0.16/28").Contains(v.IPv4[0].Addr()) {
		t.Errorf("the virtual owner got %v (%v), not from its block", v, err)
	}
	if cs.affinityListing != 0 {
		t.Errorf("%d consistent lists of every affinity after the upgrade", cs.affinityListing)
	}
	e.consistent()
}
