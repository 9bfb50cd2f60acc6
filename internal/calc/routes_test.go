package calc

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

func block(cidr, affinity string, allocated int, deleted bool) model.KVPair {
	b := &v3.IPAMBlock{ObjectMeta: metav1.ObjectMeta{Name: strings.NewReplacer(".", "-", "/", "-", ":", "-").Replace(cidr)},
		Spec: v3.IPAMBlockSpec{CIDR: cidr, Deleted: deleted}}
	if affinity != "" {
		b.Spec.Affinity = &affinity
	}
	for i := range allocated {
		b.Spec.Allocations = append(b.Spec.Allocations, &i)
	}
	return model.KVPair{Key: model.Key{Kind: "IPAMBlock", Name: b.Name}, Value: b}
}

func routesOf(s *proto.State) []string {
	var out []string
	for p, r := range s.Routes {
		line := p.String() + " " + r.Type.String()
		if r.Gateway.IsValid() {
			line += " via " + r.Gateway.String() + " (" + r.Node + ")"
		}
		out = append(out, line)
	}
	slices.Sort(out)
	return out
}

// TestLocalBlockRoutes: blocks affine to this node become local-block
// routes; other nodes' blocks, unaffine and deleted blocks do not; and
// allocation churn inside a block sends nothing.
func TestLocalBlockRoutes(t *testing.T) {
	base := state{name: "blocks"}.with(
		block("10.65.0.0/26", "host:"+node, 1, false),
		block("10.65.0.64/26", "host:node-2", 3, false),
		block("fd00:65::/122", "host:"+node, 0, false),
		block("10.65.0.128/26", "", 0, false),
		block("10.65.0.192/26", "host:"+node, 0, true),
	)
	moved := base.with(block("10.65.0.64/26", "host:"+node, 3, false), block("10.65.0.0/26", "host:node-2", 1, false)).named("affinity moved")
	gone := moved.without(model.Key{Kind: "IPAMBlock", Name: "fd00-65---122"}).named("block deleted")
	states := []state{base, moved, gone}
	got := run(t, node, states, nil)
	want := [][]string{
		{"10.65.0.0/26 local-block", "fd00:65::/122 local-block"},
		{"10.65.0.64/26 local-block", "fd00:65::/122 local-block"},
		{"10.65.0.64/26 local-block"},
	}
	for i := range states {
		if r := routesOf(got[i]); !slices.Equal(r, want[i]) {
			t.Errorf("after %q: routes %v, want %v", states[i].name, r, want[i])
		}
	}
	// Path independence, as for policy.
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 9))
		seq := slices.Clone(states)
		r.Shuffle(len(seq), func(a, b int) { seq[a], seq[b] = seq[b], seq[a] })
		res := run(t, node, seq, r)
		for i, s := range seq {
			if r := routesOf(res[i]); !reflect.DeepEqual(r, want[slices.IndexFunc(states, func(x state) bool { return x.name == s.name })]) {
				t.Fatalf("seed %d after %q: routes %v", seed, s.name, r)
			}
		}
	}

	// An allocation in a local block changes the block, not the route.
	var msgs []proto.Message
	g := New(Config{Hostname: node}, func(m []proto.Message) { msgs = append(msgs, m...) })
	g.OnUpdates([]model.Update{{KVPair: block("10.65.0.0/26", "host:"+node, 1, false)}})
	g.Flush()
	if want := []proto.Message{proto.RouteUpdate{Dst: netip.MustParsePrefix("10.65.0.0/26"), Type: proto.RouteLocalBlock}}; !reflect.DeepEqual(msgs, want) {
		t.Fatalf("messages %v, want %v", msgs, want)
	}
	msgs = nil
	g.OnUpdates([]model.Update{{KVPair: block("10.65.0.0/26", "host:"+node, 2, false)}})
	g.Flush()
	if len(msgs) != 0 {
		t.Errorf("an allocation sent %v", msgs)
	}
}

func calicoNode(name, ip, tunnel, mac string) model.KVPair {
	n := &v3.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.NodeSpec{BGP: &v3.NodeBGPSpec{IPv4Address: ip},
		IPv4VXLANTunnelAddr: tunnel, VXLANTunnelMACAddr: mac}}
	return model.KVPair{Key: model.Key{Kind: model.KindNode, Name: name}, Value: n}
}

func ipPool(name, cidr string, mode v3.EncapMode, nat bool) model.KVPair {
	p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.IPPoolSpec{CIDR: cidr, VXLANMode: mode, NATOutgoing: nat}}
	return model.KVPair{Key: model.Key{Kind: "IPPool", Name: name}, Value: p}
}

// borrowingBlock is a block affine to owner with one address held by
// each of holders (at ordinals 1, 2, ...) and the owner's at 0.
func borrowingBlock(cidr, owner string, holders ...string) model.KVPair {
	kv := block(cidr, "host:"+owner, 0, false)
	b := kv.Value.(*v3.IPAMBlock)
	for i, n := range append([]string{owner}, holders...) {
		idx := i
		b.Spec.Allocations = append(b.Spec.Allocations, &idx)
		h := "h-" + n
		b.Spec.Attributes = append(b.Spec.Attributes, v3.AllocationAttribute{HandleID: &h, ActiveOwnerAttrs: map[string]string{"node": n}})
	}
	return kv
}

func vtepsOf(s *proto.State) []string {
	var out []string
	for n, v := range s.VTEPs {
		out = append(out, n+" "+v.NodeIP.String()+" "+v.TunnelIP.String()+" "+v.MAC)
	}
	slices.Sort(out)
	return out
}

// TestVXLANRoutes: other nodes' blocks in a VXLAN pool are routed through
// their tunnel addresses (a VTEP per node with a complete tunnel), blocks
// of other pools are left to BGP, CrossSubnet pools route straight to
// nodes on this node's subnet (with or without a tunnel), and a node losing its tunnel address loses
// its routes before its VTEP (the reference dataplane checks the order);
// an address another node borrowed from a block is routed to the borrower.
func TestVXLANRoutes(t *testing.T) {
	base := state{name: "vxlan always"}.with(
		ipPool("vx", "10.66.0.0/16", v3.EncapAlways, true),
		ipPool("bgp", "10.67.0.0/16", v3.EncapNever, false),
		calicoNode(node, "172.30.0.10/24", "10.66.1.0", "66:00:00:00:00:0a"),
		calicoNode("node-2", "172.30.0.11/24", "10.66.2.0", "66:00:00:00:00:0b"),
		calicoNode("node-3", "192.168.5.3/24", "10.66.3.0", "66:00:00:00:00:0c"),
		calicoNode("node-4", "172.30.0.14/24", "", ""),
		block("10.66.1.0/26", "host:"+node, 1, false),
		// node-3 and this node borrowed addresses from node-2's block.
		borrowingBlock("10.66.2.0/26", "node-2", "node-3", node),
		block("10.66.3.0/26", "host:node-3", 1, false),
		block("10.66.4.0/26", "host:node-4", 1, false),
		block("10.67.2.0/26", "host:node-2", 1, false),
	)
	cross := base.with(ipPool("vx", "10.66.0.0/16", v3.EncapCrossSubnet, true)).named("cross subnet")
	noTunnel := base.with(calicoNode("node-2", "172.30.0.11/24", "", "")).named("node-2 without tunnel")
	// (An address this node borrowed needs no route: its workload route
	// is local.)
	noPool := base.without(model.Key{Kind: "IPPool", Name: "vx"}).named("vxlan pool gone")
	states := []state{base, cross, noTunnel, noPool}
	wantRoutes := [][]string{
		{"10.66.1.0/26 local-block", "10.66.2.0/26 remote-vxlan via 10.66.2.0 (node-2)", "10.66.2.1/32 remote-vxlan via 10.66.3.0 (node-3)",
			"10.66.3.0/26 remote-vxlan via 10.66.3.0 (node-3)"},
		// node-4 has no tunnel, but on this node's subnet none is needed.
		{"10.66.1.0/26 local-block", "10.66.2.0/26 remote-direct via 172.30.0.11 (node-2)", "10.66.2.1/32 remote-vxlan via 10.66.3.0 (node-3)",
			"10.66.3.0/26 remote-vxlan via 10.66.3.0 (node-3)", "10.66.4.0/26 remote-direct via 172.30.0.14 (node-4)"},
		{"10.66.1.0/26 local-block", "10.66.2.1/32 remote-vxlan via 10.66.3.0 (node-3)", "10.66.3.0/26 remote-vxlan via 10.66.3.0 (node-3)"},
		{"10.66.1.0/26 local-block"},
	}
	allVTEPs := []string{node + " 172.30.0.10 10.66.1.0 66:00:00:00:00:0a", "node-2 172.30.0.11 10.66.2.0 66:00:00:00:00:0b", "node-3 192.168.5.3 10.66.3.0 66:00:00:00:00:0c"}
	wantVTEPs := [][]string{allVTEPs, allVTEPs, {allVTEPs[0], allVTEPs[2]}, nil}
	check := func(seq []state, got []*proto.State, label string) {
		t.Helper()
		for i, s := range seq {
			k := slices.IndexFunc(states, func(x state) bool { return x.name == s.name })
			if r := routesOf(got[i]); !slices.Equal(r, wantRoutes[k]) {
				t.Errorf("%safter %q: routes %v, want %v", label, s.name, r, wantRoutes[k])
			}
			if v := vtepsOf(got[i]); !slices.Equal(v, wantVTEPs[k]) {
				t.Errorf("%safter %q: VTEPs %v, want %v", label, s.name, v, wantVTEPs[k])
			}
		}
	}
	got := run(t, node, states, nil)
	check(states, got, "")
	if p := got[0].Pools["vx"]; !p.Masquerade || p.VXLANMode != "Always" || p.CIDR.String() != "10.66.0.0/16" {
		t.Errorf("pool vx sent as %+v", p)
	}
	if len(got[3].Pools) != 1 {
		t.Errorf("pools after the deletion: %v", got[3].Pools)
	}
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 11))
		seq := slices.Clone(states)
		r.Shuffle(len(seq), func(a, b int) { seq[a], seq[b] = seq[b], seq[a] })
		check(seq, run(t, node, seq, r), "shuffled: ")
	}
}

// TestDisabledPoolKeepsNATOutgoing: disabling a pool stops new
// allocations from it, not outbound NAT for the pods still using it
// (Calico's pool migration disables the old pool, then recycles pods).
func TestDisabledPoolKeepsNATOutgoing(t *testing.T) {
	pool := func(disabled bool) model.KVPair {
		p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "old"}, Spec: v3.IPPoolSpec{CIDR: "10.66.0.0/16", NATOutgoing: true, Disabled: disabled}}
		return model.KVPair{Key: model.Key{Kind: "IPPool", Name: "old"}, Value: p}
	}
	states := []state{state{name: "enabled"}.with(pool(false)), state{name: "disabled"}.with(pool(true))}
	for i, s := range run(t, node, states, nil) {
		if p := s.Pools["old"]; !p.Masquerade {
			t.Errorf("%s pool: sent as %+v, want masquerade", states[i].name, p)
		}
	}
}
