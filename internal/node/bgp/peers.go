package bgp

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/selector"
)

// DefaultASNumber is the cluster's AS number when BGPConfiguration sets
// none.
const DefaultASNumber v3.ASNumber = 64512

// PeerKind says where a peering comes from; it names the BIRD protocol.
type PeerKind string

// Peer kinds, in order of precedence: when two describe the same address
// and port, the first one wins.
const (
	PeerGlobal PeerKind = "Global" // a BGPPeer for every node
	PeerNode   PeerKind = "Node"   // a BGPPeer for some nodes, or one selecting Calico nodes as peers
	PeerMesh   PeerKind = "Mesh"   // the node-to-node mesh
)

var kindRank = map[PeerKind]int{PeerGlobal: 0, PeerNode: 1, PeerMesh: 2}

// Peer is one BGP session of this node.
type Peer struct {
	Kind PeerKind
	IP   netip.Addr
	Port uint16 // 0: the default, 179
	AS   v3.ASNumber
	// Node is the Calico node at the other end ("" for an external peer).
	Node string
	// From names the BGPPeer resource ("" for the mesh).
	From string
	// Passive: this side waits for the other to connect (between Calico
	// nodes only one side dials, the one with the lower address).
	Passive bool
	// RRClient: this node is a route reflector and the peer its client.
	RRClient bool
	Password string
	// KeepNextHop keeps the original next hop on routes sent to an eBGP
	// peer; NextHopSelf forces this node's address.
	KeepNextHop, NextHopSelf      bool
	KeepaliveTime, MaxRestartTime time.Duration
	TTLSecurity                   uint8
	// LocalAS overrides this node's AS on the session.
	LocalAS *v3.ASNumber
	// AllowLocalAS accepts routes whose AS path contains this node's AS up
	// to this many times.
	AllowLocalAS int32
	// Filters name the BGPFilters applied, in order.
	Filters []string

	// broken: the session cannot be configured as asked (its password
	// cannot be read); it is left out rather than run without one.
	broken bool
}

// Name is the BIRD protocol name: Mesh_10_0_0_2, Node_fd00__2_port_1179.
func (p Peer) Name() string {
	n := string(p.Kind) + "_" + strings.NewReplacer(".", "_", ":", "_").Replace(p.IP.String())
	if p.Port != 0 && p.Port != 179 {
		n += "_port_" + strconv.Itoa(int(p.Port))
	}
	return n
}

// IBGP tells whether the session stays inside one AS.
func (p Peer) IBGP(localAS v3.ASNumber) bool {
	if p.LocalAS != nil {
		localAS = *p.LocalAS
	}
	return p.AS == localAS
}

// PasswordRef names a secret key holding a BGP password.
type PasswordRef struct{ Secret, Key string }

// Input is everything the BIRD configuration of one node is made from.
type Input struct {
	// Node is this node's name.
	Node string
	// Nodes are every Calico node, this one included.
	Nodes map[string]*v3.Node
	// Configs are the BGPConfigurations by name ("default",
	// "node.<name>").
	Configs map[string]*v3.BGPConfiguration
	Peers   []*v3.BGPPeer
	Filters map[string]*v3.BGPFilter
	Pools   []*v3.IPPool
	// Blocks are the IPAM blocks affine to this node.
	Blocks []netip.Prefix
	// Borrowed are addresses this node holds in blocks affine to other
	// nodes: advertised one by one, more specific than the owner's block.
	Borrowed []netip.Addr
	// Passwords holds the secret values BGPPeers and the mesh refer to
	// (missing: the session is rendered without a password, and the
	// problem is reported).
	Passwords map[PasswordRef]string
}

// node is a Calico node's BGP view.
type nodeInfo struct {
	name      string
	labels    map[string]string
	v4, v6    netip.Prefix
	as        v3.ASNumber
	rrCluster string
}

func (in *Input) global() v3.BGPConfigurationSpec {
	if c := in.Configs[v3.DefaultConfigName]; c != nil {
		return c.Spec
	}
	return v3.BGPConfigurationSpec{}
}

// perNode is this node's BGPConfiguration node.<name>, if any.
func (in *Input) perNode() *v3.BGPConfigurationSpec {
	if c := in.Configs["node."+in.Node]; c != nil {
		return &c.Spec
	}
	return nil
}

func (in *Input) globalAS() v3.ASNumber {
	if as := in.global().ASNumber; as != nil {
		return *as
	}
	return DefaultASNumber
}

func (in *Input) meshEnabled() bool {
	if b := in.global().NodeToNodeMeshEnabled; b != nil {
		return *b
	}
	return true
}

func (in *Input) info(name string) (nodeInfo, bool) {
	n := in.Nodes[name]
	if n == nil || n.Spec.BGP == nil {
		return nodeInfo{}, false
	}
	ni := nodeInfo{name: name, labels: n.Labels, as: in.globalAS(), rrCluster: n.Spec.BGP.RouteReflectorClusterID}
	if n.Spec.BGP.ASNumber != nil {
		ni.as = *n.Spec.BGP.ASNumber
	}
	ni.v4, _ = parseHostPrefix(n.Spec.BGP.IPv4Address)
	ni.v6, _ = parseHostPrefix(n.Spec.BGP.IPv6Address)
	if !ni.v4.Addr().Is4() {
		ni.v4 = netip.Prefix{}
	}
	if !ni.v6.Addr().Is6() {
		ni.v6 = netip.Prefix{}
	}
	return ni, true
}

// parseHostPrefix reads "10.0.0.1/24" or "10.0.0.1".
func parseHostPrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("empty")
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (ni nodeInfo) addr(v6 bool) netip.Addr {
	if v6 {
		return ni.v6.Addr()
	}
	return ni.v4.Addr()
}

// selects evaluates a selector on labels; a bad selector selects nothing
// (validation keeps them out of the datastore).
func selects(sel string, labels map[string]string) bool {
	s, err := selector.Parse(sel)
	return err == nil && s.Evaluate(labels)
}

// sortedNodes are the nodes with BGP, by name.
func (in *Input) sortedNodes() []nodeInfo {
	var out []nodeInfo
	for name := range in.Nodes {
		if ni, ok := in.info(name); ok {
			out = append(out, ni)
		}
	}
	slices.SortFunc(out, func(a, b nodeInfo) int { return strings.Compare(a.name, b.name) })
	return out
}

// appliesTo tells whether a BGPPeer's local side includes a node.
func appliesTo(p *v3.BGPPeer, n nodeInfo) bool {
	switch {
	case p.Spec.Node != "":
		return p.Spec.Node == n.name
	case p.Spec.NodeSelector != "":
		return selects(p.Spec.NodeSelector, n.labels)
	}
	return true // global
}

// PeersFor computes this node's sessions for one address family, with
// the problems found on the way (a missing password, say), which do not
// stop the rest.
func (in *Input) PeersFor(v6 bool) ([]Peer, []string) {
	self, ok := in.info(in.Node)
	if !ok || !self.addr(v6).IsValid() {
		return nil, nil
	}
	var out []Peer
	var problems []string
	nodes := in.sortedNodes()
	byAddr := map[netip.Addr]nodeInfo{}
	for _, n := range nodes {
		if a := n.addr(v6); a.IsValid() {
			byAddr[a] = n
		}
	}
	// Between Calico nodes only the side with the lower address dials.
	passive := func(other netip.Addr) bool { return other.String() > self.addr(v6).String() }
	rrClient := func(other nodeInfo, as v3.ASNumber) bool {
		return self.rrCluster != "" && as == self.as && other.rrCluster != self.rrCluster
	}

	// The node-to-node mesh, unless this node is a route reflector.
	if in.meshEnabled() && self.rrCluster == "" {
		pw, broken := "", false
		if ref := in.global().NodeMeshPassword; ref != nil {
			var perr string
			if pw, perr = in.password(ref); perr != "" {
				problems = append(problems, "node mesh: "+perr)
				broken = true
			}
		}
		var restart time.Duration
		if d := in.global().NodeMeshMaxRestartTime; d != nil {
			restart = d.Duration
		}
		for _, n := range nodes {
			a := n.addr(v6)
			if n.name == self.name || !a.IsValid() || n.rrCluster != "" {
				continue
			}
			out = append(out, Peer{Kind: PeerMesh, IP: a, AS: n.as, Node: n.name, Passive: passive(a), Password: pw, MaxRestartTime: restart, broken: broken})
		}
	}

	// BGPPeers: this node's own, and the mirror of those that select
	// this node as a peer (reverse peering).
	peers := slices.Clone(in.Peers)
	slices.SortFunc(peers, func(a, b *v3.BGPPeer) int { return strings.Compare(a.Name, b.Name) })
	for _, bp := range peers {
		kind := PeerNode
		if bp.Spec.Node == "" && bp.Spec.NodeSelector == "" {
			kind = PeerGlobal
		}
		base := func(ip netip.Addr, port uint16, as v3.ASNumber, node string) Peer {
			p := Peer{Kind: kind, IP: ip, Port: port, AS: as, Node: node, From: bp.Name,
				KeepNextHop: bp.Spec.KeepOriginalNextHop, Filters: bp.Spec.Filters, LocalAS: bp.Spec.LocalASNumber}
			if m := bp.Spec.NextHopMode; m != nil {
				p.KeepNextHop = p.KeepNextHop || *m == v3.NextHopModeKeep
				p.NextHopSelf = *m == v3.NextHopModeSelf
			}
			if d := bp.Spec.KeepaliveTime; d != nil {
				p.KeepaliveTime = d.Duration
			}
			if d := bp.Spec.MaxRestartTime; d != nil {
				p.MaxRestartTime = d.Duration
			}
			if t := bp.Spec.TTLSecurity; t != nil {
				p.TTLSecurity = *t
			}
			if n := bp.Spec.NumAllowedLocalASNumbers; n != nil {
				p.AllowLocalAS = *n
			}
			if ref := bp.Spec.Password; ref != nil {
				pw, perr := in.password(ref)
				if perr != "" {
					problems = append(problems, fmt.Sprintf("BGPPeer %s: %s", bp.Name, perr))
					p.broken = true
				}
				p.Password = pw
			}
			if node != "" {
				p.Passive = passive(ip)
				if other, ok := in.info(node); ok {
					p.RRClient = rrClient(other, as)
				}
			}
			return p
		}
		if appliesTo(bp, self) {
			switch {
			case bp.Spec.PeerIP != "":
				ip, port, err := parsePeerIP(bp.Spec.PeerIP)
				if err != nil {
					problems = append(problems, fmt.Sprintf("BGPPeer %s: peerIP %q: %v", bp.Name, bp.Spec.PeerIP, err))
					continue
				}
				if ip.Is6() != v6 || ip == self.addr(v6) {
					continue
				}
				as := bp.Spec.ASNumber
				node := ""
				if n, ok := byAddr[ip]; ok {
					node = n.name
					if as == 0 {
						as = n.as
					}
				}
				out = append(out, base(ip, port, as, node))
			case bp.Spec.PeerSelector != "":
				for _, n := range nodes {
					if n.name == self.name || !n.addr(v6).IsValid() || !selects(bp.Spec.PeerSelector, n.labels) {
						continue
					}
					out = append(out, base(n.addr(v6), 0, n.as, n.name))
				}
			}
		}
		// Reverse peering: a BGPPeer whose peers include this node also
		// makes this node peer with the nodes on its local side.
		if bp.Spec.ReversePeering != nil && *bp.Spec.ReversePeering == v3.ReversePeeringManual {
			continue
		}
		selectsSelf := bp.Spec.PeerSelector != "" && selects(bp.Spec.PeerSelector, self.labels)
		if bp.Spec.PeerIP != "" {
			if ip, _, err := parsePeerIP(bp.Spec.PeerIP); err == nil && ip == self.addr(v6) {
				selectsSelf = true
			}
		}
		if !selectsSelf {
			continue
		}
		for _, n := range nodes {
			if n.name == self.name || !n.addr(v6).IsValid() || !appliesTo(bp, n) {
				continue
			}
			p := base(n.addr(v6), 0, n.as, n.name)
			p.Kind = PeerNode
			out = append(out, p)
		}
	}

	// One session per address and port: a global peer beats a node
	// peer, which beats the mesh.
	slices.SortStableFunc(out, func(a, b Peer) int {
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Port, b.Port); c != 0 {
			return c
		}
		return cmp.Compare(kindRank[a.Kind], kindRank[b.Kind])
	})
	out = slices.CompactFunc(out, func(a, b Peer) bool { return a.IP == b.IP && a.Port == b.Port })
	out = slices.DeleteFunc(out, func(p Peer) bool { return p.broken })
	return out, problems
}

// parsePeerIP reads "10.0.0.1", "10.0.0.1:1179", "fd00::1" or
// "[fd00::1]:1179".
func parsePeerIP(s string) (netip.Addr, uint16, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), 0, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("not an address or address:port")
	}
	return ap.Addr().Unmap(), ap.Port(), nil
}

func (in *Input) password(ref *v3.BGPPassword) (string, string) {
	if ref.SecretKeyRef == nil {
		return "", ""
	}
	pr := PasswordRef{Secret: ref.SecretKeyRef.Name, Key: ref.SecretKeyRef.Key}
	pw, ok := in.Passwords[pr]
	switch {
	case !ok:
		return "", fmt.Sprintf("password: secret %s has no key %s (or cannot be read); the session is left out until it can be", pr.Secret, pr.Key)
	case pw == "" || strings.ContainsAny(pw, "\"\\\n\r"):
		return "", fmt.Sprintf("password: secret %s key %s is empty or holds a quote, backslash or line break, which BIRD cannot take; the session is left out", pr.Secret, pr.Key)
	}
	return pw, ""
}

// PasswordRefs lists the secret keys the input refers to, so the caller
// can read them.
func (in *Input) PasswordRefs() []PasswordRef {
	var out []PasswordRef
	add := func(ref *v3.BGPPassword) {
		if ref != nil && ref.SecretKeyRef != nil {
			out = append(out, PasswordRef{Secret: ref.SecretKeyRef.Name, Key: ref.SecretKeyRef.Key})
		}
	}
	add(in.global().NodeMeshPassword)
	for _, p := range in.Peers {
		add(p.Spec.Password)
	}
	slices.SortFunc(out, func(a, b PasswordRef) int {
		return cmp.Or(strings.Compare(a.Secret, b.Secret), strings.Compare(a.Key, b.Key))
	})
	return slices.Compact(out)
}
