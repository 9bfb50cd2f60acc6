package bgp

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	v3 "github.com/calicong/calico/api/v3"
)

func ptr[T any](v T) *T { return &v }

func names(ps []Peer) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name())
	}
	return out
}

func render(t *testing.T, in *Input) *Config {
	t.Helper()
	c, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	birdCheck(t, c)
	return c
}

// Three nodes in the default full mesh: each peers with the two others,
// and of each pair only the node with the lower address dials.
func TestMesh(t *testing.T) {
	in := &Input{Node: "node-b",
		Nodes:    nodes(node("node-a", "10.0.0.1/24", "", nil), node("node-b", "10.0.0.2/24", "", nil), node("node-c", "10.0.0.3/24", "", nil), &v3.Node{}),
		Pools:    []*v3.IPPool{pool("default", "10.65.0.0/16")},
		Blocks:   prefixes("10.65.1.0/26", "10.65.7.64/26"),
		Borrowed: []netip.Addr{netip.MustParseAddr("10.65.9.3")}}
	c := render(t, in)
	if got := names(c.PeersV4); !slices.Equal(got, []string{"Mesh_10_0_0_1", "Mesh_10_0_0_3"}) {
		t.Fatalf("peers %v", got)
	}
	if c.PeersV4[0].Passive || !c.PeersV4[1].Passive {
		t.Errorf("passive: want only the session to the higher address passive: %+v", c.PeersV4)
	}
	for _, want := range []string{"router id 10.0.0.2;", "route 10.65.1.0/26 blackhole;", "route 10.65.7.64/26 blackhole;", "route 10.65.9.3/32 blackhole;",
		"neighbor 10.0.0.1 as 64512;", "local 10.0.0.2 as 64512;", "if net ~ [ 10.65.0.0/16+ ] then return true;"} {
		if !strings.Contains(c.Main, want) {
			t.Errorf("bird.cfg lacks %q", want)
		}
	}
	golden(t, "mesh", c)

	// AS numbers: the global one, and a node's own.
	in.Configs = map[string]*v3.BGPConfiguration{"default": {Spec: v3.BGPConfigurationSpec{ASNumber: ptr(v3.ASNumber(65100))}}}
	in.Nodes["node-c"].Spec.BGP.ASNumber = ptr(v3.ASNumber(65200))
	c = render(t, in)
	for _, want := range []string{"local 10.0.0.2 as 65100;", "neighbor 10.0.0.1 as 65100;", "neighbor 10.0.0.3 as 65200;"} {
		if !strings.Contains(c.Main, want) {
			t.Errorf("with AS numbers, bird.cfg lacks %q", want)
		}
	}
	// The mesh off: no sessions.
	in.Configs["default"].Spec.NodeToNodeMeshEnabled = ptr(false)
	if c = render(t, in); len(c.PeersV4) != 0 {
		t.Errorf("mesh disabled, still peers %v", names(c.PeersV4))
	}
	// A node without an IPv4 address cannot run BGP.
	in.Node = "nobody"
	if _, err := Render(in); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("node without address: %v", err)
	}
}

// Route reflectors: the mesh off, every node peers with the nodes
// labelled route-reflector, and each reflector has the others as clients
// (peering back automatically); two reflectors with one cluster ID are
// not each other's clients.
func TestRouteReflectors(t *testing.T) {
	rr := func(id string) func(*v3.NodeBGPSpec) {
		return func(b *v3.NodeBGPSpec) { b.RouteReflectorClusterID = id }
	}
	in := &Input{
		Nodes: nodes(
			node("rr-1", "10.0.0.10/24", "", map[string]string{"route-reflector": "true"}, rr("244.0.0.1")),
			node("rr-2", "10.0.0.11/24", "", map[string]string{"route-reflector": "true"}, rr("244.0.0.1")),
			node("node-a", "10.0.0.1/24", "", nil), node("node-b", "10.0.0.2/24", "", nil)),
		Configs: map[string]*v3.BGPConfiguration{"default": {Spec: v3.BGPConfigurationSpec{NodeToNodeMeshEnabled: ptr(false)}}},
		Peers:   []*v3.BGPPeer{peer("peer-with-rrs", v3.BGPPeerSpec{NodeSelector: "!has(route-reflector)", PeerSelector: "has(route-reflector)"})},
		Pools:   []*v3.IPPool{pool("default", "10.65.0.0/16")},
	}
	in.Node = "node-a"
	c := render(t, in)
	if got := names(c.PeersV4); !slices.Equal(got, []string{"Node_10_0_0_10", "Node_10_0_0_11"}) {
		t.Fatalf("client peers %v", got)
	}
	if c.PeersV4[0].RRClient {
		t.Errorf("a client marks its reflector as its client")
	}
	in.Node = "rr-1"
	c = render(t, in)
	if got := names(c.PeersV4); !slices.Equal(got, []string{"Node_10_0_0_1", "Node_10_0_0_2"}) {
		t.Fatalf("reflector peers %v", got)
	}
	for _, p := range c.PeersV4 {
		if !p.RRClient {
			t.Errorf("reflector: %s is not a client", p.Name())
		}
	}
	if !strings.Contains(c.Main, "rr client;\n  rr cluster id 244.0.0.1;") {
		t.Errorf("reflector config lacks the client settings")
	}
	golden(t, "route-reflector", c)

	// Reflectors peering with each other (same cluster ID): not clients.
	in.Peers = append(in.Peers, peer("rr-mesh", v3.BGPPeerSpec{NodeSelector: "has(route-reflector)", PeerSelector: "has(route-reflector)"}))
	c = render(t, in)
	for _, p := range c.PeersV4 {
		if p.Node == "rr-2" && p.RRClient {
			t.Errorf("rr-2 shares the cluster ID but is rendered as a client")
		}
	}
	if !slices.Contains(names(c.PeersV4), "Node_10_0_0_11") {
		t.Errorf("reflectors do not peer: %v", names(c.PeersV4))
	}
	// Manual reverse peering: the reflectors no longer peer back.
	in.Peers = in.Peers[:1]
	in.Peers[0].Spec.ReversePeering = ptr(v3.ReversePeeringManual)
	if c = render(t, in); len(c.PeersV4) != 0 {
		t.Errorf("manual reverse peering, reflector still peers with %v", names(c.PeersV4))
	}
}

// External peers: a global one (a top-of-rack router in another AS), a
// node-specific one already covered by it (skipped), passwords from
// secrets, and a missing secret reported without failing the rest.
func TestExternalPeers(t *testing.T) {
	in := &Input{Node: "node-a",
		Nodes: nodes(node("node-a", "10.0.0.1/24", "", map[string]string{"rack": "r1"}), node("node-b", "10.0.0.2/24", "", map[string]string{"rack": "r2"})),
		Peers: []*v3.BGPPeer{
			peer("tor", v3.BGPPeerSpec{PeerIP: "10.0.0.254", ASNumber: 65001,
				Password: &v3.BGPPassword{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "bgp-secrets"}, Key: "tor"}}}),
			peer("tor-again", v3.BGPPeerSpec{Node: "node-a", PeerIP: "10.0.0.254", ASNumber: 65001}),
			peer("rack-r1", v3.BGPPeerSpec{NodeSelector: "rack == 'r1'", PeerIP: "10.0.0.253:1179", ASNumber: 65002, KeepaliveTime: nil,
				Password: &v3.BGPPassword{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "bgp-secrets"}, Key: "missing"}}}),
			peer("rack-r2", v3.BGPPeerSpec{NodeSelector: "rack == 'r2'", PeerIP: "10.0.0.252", ASNumber: 65003}),
			peer("bad", v3.BGPPeerSpec{PeerIP: "not-an-ip", ASNumber: 65004}),
		},
		Pools:     []*v3.IPPool{pool("default", "10.65.0.0/16")},
		Passwords: map[PasswordRef]string{{Secret: "bgp-secrets", Key: "tor"}: "s3cr3t!"},
	}
	if refs := in.PasswordRefs(); len(refs) != 2 {
		t.Errorf("password refs %v", refs)
	}
	c := render(t, in)
	// rack-r1's password cannot be read: that session is left out.
	want := []string{"Mesh_10_0_0_2", "Global_10_0_0_254"}
	if got := names(c.PeersV4); !slices.Equal(got, want) {
		t.Fatalf("peers %v, want %v", got, want)
	}
	for _, w := range []string{`password "s3cr3t!";`, "neighbor 10.0.0.254 as 65001;"} {
		if !strings.Contains(c.Main, w) {
			t.Errorf("bird.cfg lacks %q", w)
		}
	}
	if len(c.Problems) != 2 || !strings.Contains(strings.Join(c.Problems, "\n"), "no key missing") || !strings.Contains(strings.Join(c.Problems, "\n"), `"not-an-ip"`) {
		t.Errorf("problems %q", c.Problems)
	}
	golden(t, "external-peers", c)

	// Once the secret has the key, the session is there, on its port.
	in.Passwords[PasswordRef{Secret: "bgp-secrets", Key: "missing"}] = "other"
	c = render(t, in)
	if !slices.Contains(names(c.PeersV4), "Node_10_0_0_253_port_1179") || !strings.Contains(c.Main, "neighbor 10.0.0.253 port 1179 as 65002;") {
		t.Errorf("with the password, peers %v", names(c.PeersV4))
	}
	// A password BIRD cannot quote is refused, not mangled.
	in.Passwords[PasswordRef{Secret: "bgp-secrets", Key: "tor"}] = `has"quote`
	c = render(t, in)
	if slices.Contains(names(c.PeersV4), "Global_10_0_0_254") || !strings.Contains(strings.Join(c.Problems, "\n"), "BIRD cannot take") {
		t.Errorf("unquotable password: peers %v, problems %q", names(c.PeersV4), c.Problems)
	}
}

// Pools, services, communities, filters and IPv6 in one configuration.
func TestExportAndFilters(t *testing.T) {
	in := &Input{Node: "node-a",
		Nodes: nodes(node("node-a", "10.0.0.1/24", "fd00::1/64", nil), node("node-b", "10.0.0.2/24", "fd00::2/64", nil)),
		Configs: map[string]*v3.BGPConfiguration{"default": {Spec: v3.BGPConfigurationSpec{
			ServiceClusterIPs:    []v3.ServiceClusterIPBlock{{CIDR: "10.96.0.0/12"}, {CIDR: "fd00:96::/108"}},
			ServiceExternalIPs:   []v3.ServiceExternalIPBlock{{CIDR: "192.0.2.0/24"}},
			Communities:          []v3.Community{{Name: "gold", Value: "65000:100"}},
			PrefixAdvertisements: []v3.PrefixAdvertisement{{CIDR: "10.65.0.0/16", Communities: []string{"gold", "65000:1:2"}}},
			ListenPort:           1179,
		}}},
		Pools: []*v3.IPPool{pool("default", "10.65.0.0/16"), pool("private", "10.66.0.0/16", func(s *v3.IPPoolSpec) { s.DisableBGPExport = true }),
			pool("overlay", "10.67.0.0/16", func(s *v3.IPPoolSpec) { s.VXLANMode = v3.EncapAlways }), pool("v6", "fd00:65::/48")},
		Blocks: prefixes("10.65.3.0/26", "fd00:65:0:1::/122", "10.66.0.0/26"),
		Peers: []*v3.BGPPeer{peer("tor", v3.BGPPeerSpec{PeerIP: "10.0.0.254", ASNumber: 65001, Filters: []string{"only-blocks", "nope"}}),
			peer("tor6", v3.BGPPeerSpec{PeerIP: "fd00::fe", ASNumber: 65001, Filters: []string{"only-blocks"}})},
		Filters: map[string]*v3.BGPFilter{"only-blocks": {Spec: v3.BGPFilterSpec{
			ExportV4: []v3.BGPFilterRuleV4{
				{CIDR: "10.65.0.0/16", MatchOperator: v3.MatchOperatorIn, PrefixLength: &v3.BGPFilterPrefixLengthV4{Min: ptr(int32(26))}, Action: v3.BGPFilterAccept,
					Operations: []v3.BGPFilterOperation{{PrependASPath: &v3.BGPFilterPrependASPath{Prefix: []v3.ASNumber{65100, 65101}}}}},
				{PeerType: v3.BGPFilterPeerTypeEBGP, Action: v3.BGPFilterReject},
			},
			ImportV4: []v3.BGPFilterRuleV4{
				{CIDR: "0.0.0.0/0", MatchOperator: v3.MatchOperatorEqual, Action: v3.BGPFilterReject},
				{Source: v3.BGPFilterSourceRemotePeers, Communities: &v3.BGPFilterCommunityMatch{Values: []v3.BGPCommunityValue{"65001:7"}}, Action: v3.BGPFilterAccept,
					Operations: []v3.BGPFilterOperation{{AddCommunity: &v3.BGPFilterAddCommunity{Value: "65000:200"}}, {SetPriority: &v3.BGPFilterSetPriority{Value: 512}}}},
			},
			ExportV6: []v3.BGPFilterRuleV6{{CIDR: "fd00:65::/48", MatchOperator: v3.MatchOperatorNotIn, Action: v3.BGPFilterReject}},
		}}},
	}
	in.Filters["only-blocks"].Name = "only-blocks"
	c := render(t, in)
	if got := names(c.PeersV6); !slices.Equal(got, []string{"Mesh_fd00__2", "Global_fd00__fe"}) {
		t.Errorf("IPv6 peers %v", got)
	}
	for _, w := range []string{`include "bird6.cfg";`, "route 10.96.0.0/12 blackhole;", "route 192.0.2.0/24 blackhole;",
		"if net ~ [ 10.66.0.0/16+ ] then return false;", "if net ~ [ 10.67.0.0/16+ ] then reject;", "bgp_community.add((65000,100));",
		"bgp_large_community.add((65000,1,2));", "local 10.0.0.1 port 1179 as 64512;", "bgpfilter_only_blocks_export4(false);"} {
		if !strings.Contains(c.Main, w) {
			t.Errorf("bird.cfg lacks %q", w)
		}
	}
	for _, w := range []string{"route fd00:65:0:1::/122 blackhole;", "route fd00:96::/108 blackhole;", "router id"} {
		if strings.Contains(c.IPv6, w) == (w == "router id") {
			t.Errorf("bird6.cfg: %q present=%v", w, strings.Contains(c.IPv6, w))
		}
	}
	if !strings.Contains(strings.Join(c.Problems, "\n"), "BGPFilter nope does not exist") {
		t.Errorf("problems %q", c.Problems)
	}
	golden(t, "export-filters", c)
}
