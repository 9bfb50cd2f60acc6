package calc

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/model"
)

// blockRoutes tracks what the node's routes and overlay are made of: the
// IPAM blocks and who they are affine to, the IP pools, and the other
// nodes' addresses and VXLAN tunnel endpoints. Blocks are rewritten on
// every allocation; only a change of CIDR or affinity matters.
type blockRoutes struct {
	blocks map[string]ownedBlock // block name → CIDR and node
	pools  map[string]poolInfo
	nodes  map[string]nodeInfo
	sent   sentRoutes
	dirty  bool
}

type ownedBlock struct {
	cidr netip.Prefix
	node string
	// borrowed are addresses in the block held by other nodes, joined as
	// "addr@node" (comparable, so churn of the owner's allocations is not
	// a change).
	borrowed string
}

type poolInfo struct {
	cidr       netip.Prefix
	masquerade bool
	vxlan      v3.EncapMode
}

type nodeInfo struct {
	ip       netip.Prefix // the node's IPv4 address with its subnet
	tunnelIP netip.Addr
	mac      string
}

func (r *blockRoutes) init() {
	if r.blocks == nil {
		r.blocks, r.pools, r.nodes = map[string]ownedBlock{}, map[string]poolInfo{}, map[string]nodeInfo{}
		r.sent = sentRoutes{routes: map[netip.Prefix]routeMsg{}, vteps: map[string]vtepMsg{}, pools: map[string]poolMsg{}}
	}
}

func (g *Graph) onIPAMBlock(key model.Key, value any) {
	r := &g.blocks
	r.init()
	old, had := r.blocks[key.Name]
	b, _ := value.(*v3.IPAMBlock)
	nb, ok := blockOwner(b)
	switch {
	case ok && (!had || old != nb):
		r.blocks[key.Name] = nb
		r.dirty = true
	case !ok && had:
		delete(r.blocks, key.Name)
		r.dirty = true
	}
}

// blockOwner returns the block's CIDR and the node it is affine to.
func blockOwner(b *v3.IPAMBlock) (ownedBlock, bool) {
	if b == nil || b.Spec.Deleted || b.Spec.Affinity == nil {
		return ownedBlock{}, false
	}
	node, ok := strings.CutPrefix(*b.Spec.Affinity, "host:")
	if !ok || node == "" {
		return ownedBlock{}, false
	}
	p, err := netip.ParsePrefix(b.Spec.CIDR)
	if err != nil {
		return ownedBlock{}, false
	}
	var borrowed []string
	for n, addrs := range ipam.Borrowed(b) {
		for _, a := range addrs {
			borrowed = append(borrowed, a.String()+"@"+n)
		}
	}
	slices.Sort(borrowed)
	return ownedBlock{cidr: p.Masked(), node: node, borrowed: strings.Join(borrowed, ",")}, true
}

// borrowedAddrs splits ownedBlock.borrowed.
func (b ownedBlock) borrowedAddrs() map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, e := range strings.Split(b.borrowed, ",") {
		a, n, ok := strings.Cut(e, "@")
		if ip, err := netip.ParseAddr(a); ok && err == nil {
			out[ip] = n
		}
	}
	return out
}

func (g *Graph) onIPPool(key model.Key, value any) {
	r := &g.blocks
	r.init()
	p, _ := value.(*v3.IPPool)
	var info poolInfo
	ok := false
	if p != nil {
		if c, err := netip.ParsePrefix(p.Spec.CIDR); err == nil {
			info, ok = poolInfo{cidr: c.Masked(), masquerade: p.Spec.NATOutgoing, vxlan: p.Spec.VXLANMode}, true
		}
	}
	old, had := r.pools[key.Name]
	switch {
	case ok && (!had || old != info):
		r.pools[key.Name] = info
		r.dirty = true
	case !ok && had:
		delete(r.pools, key.Name)
		r.dirty = true
	}
}

func (g *Graph) onNode(key model.Key, value any) {
	r := &g.blocks
	r.init()
	n, _ := value.(*v3.Node)
	var info nodeInfo
	if n != nil {
		if n.Spec.BGP != nil {
			if p, err := netip.ParsePrefix(n.Spec.BGP.IPv4Address); err == nil && p.Addr().Is4() {
				info.ip = p
			} else if a, err := netip.ParseAddr(n.Spec.BGP.IPv4Address); err == nil && a.Is4() {
				info.ip = netip.PrefixFrom(a, 32)
			}
		}
		info.tunnelIP, _ = netip.ParseAddr(n.Spec.IPv4VXLANTunnelAddr)
		info.mac = n.Spec.VXLANTunnelMACAddr
	}
	old, had := r.nodes[key.Name]
	switch {
	case n != nil && (!had || old != info):
		r.nodes[key.Name] = info
		r.dirty = true
	case n == nil && had:
		delete(r.nodes, key.Name)
		r.dirty = true
	}
}

// vxlanPool is the VXLAN pool holding a block, if any.
func (r *blockRoutes) vxlanPool(cidr netip.Prefix) (poolInfo, bool) {
	for _, name := range slices.Sorted(maps.Keys(r.pools)) {
		p := r.pools[name]
		if (p.vxlan == v3.EncapAlways || p.vxlan == v3.EncapCrossSubnet) && p.cidr.Contains(cidr.Addr()) && p.cidr.Bits() <= cidr.Bits() {
			return p, true
		}
	}
	return poolInfo{}, false
}

func (r *blockRoutes) anyVXLAN() bool {
	for _, p := range r.pools {
		if p.vxlan == v3.EncapAlways || p.vxlan == v3.EncapCrossSubnet {
			return true
		}
	}
	return false
}
