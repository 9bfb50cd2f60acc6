package calc

import (
	"maps"
	"net/netip"
	"slices"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/proto"
)

type (
	routeMsg = proto.RouteUpdate
	vtepMsg  = proto.VTEPUpdate
	poolMsg  = proto.IPPoolUpdate
)

// sentRoutes is what the dataplane was last told.
type sentRoutes struct {
	routes map[netip.Prefix]routeMsg
	vteps  map[string]vtepMsg
	pools  map[string]poolMsg
}

// desired computes the pools, VTEPs and routes the node should have:
//   - every pool (for NAT outgoing and the overlay);
//   - when some pool is VXLAN, every node's complete VTEP (this node's
//     describes the local device);
//   - this node's blocks, blackholed;
//   - other nodes' blocks in VXLAN pools: through the owner's tunnel
//     address, or, in a CrossSubnet pool with the owner on this node's
//     subnet, straight to the owner's address; and addresses other nodes
//     borrowed from any block, the same way to the borrower. Blocks of
//     other pools are left to BGP.
func (r *blockRoutes) desired(self string) (map[string]poolMsg, map[string]vtepMsg, map[netip.Prefix]routeMsg) {
	pools := map[string]poolMsg{}
	for name, p := range r.pools {
		pools[name] = poolMsg{ID: name, CIDR: p.cidr, Masquerade: p.masquerade, VXLANMode: string(p.vxlan)}
	}
	vteps := map[string]vtepMsg{}
	if r.anyVXLAN() {
		for name, n := range r.nodes {
			if n.ip.IsValid() && n.tunnelIP.IsValid() && n.mac != "" {
				vteps[name] = vtepMsg{Node: name, NodeIP: n.ip.Addr(), TunnelIP: n.tunnelIP, MAC: n.mac}
			}
		}
	}
	routes := map[netip.Prefix]routeMsg{}
	me := r.nodes[self]
	// routeTo routes dst to another node: straight to it in a
	// CrossSubnet pool when it is on this node's subnet, else through its
	// tunnel (once its VTEP is known).
	routeTo := func(dst netip.Prefix, node string, pool poolInfo) {
		n := r.nodes[node]
		if pool.vxlan == v3.EncapCrossSubnet && me.ip.IsValid() && n.ip.IsValid() && me.ip.Masked().Contains(n.ip.Addr()) {
			routes[dst] = routeMsg{Dst: dst, Type: proto.RouteRemoteDirect, Node: node, Gateway: n.ip.Addr()}
		} else if v, ok := vteps[node]; ok {
			routes[dst] = routeMsg{Dst: dst, Type: proto.RouteRemoteVXLAN, Node: node, Gateway: v.TunnelIP}
		}
	}
	for _, b := range r.blocks {
		if b.node == self {
			routes[b.cidr] = routeMsg{Dst: b.cidr, Type: proto.RouteLocalBlock}
			continue
		}
		if pool, ok := r.vxlanPool(b.cidr); ok {
			routeTo(b.cidr, b.node, pool)
		}
	}
	// Addresses borrowed from a block by another node are routed to that
	// node (more specific than the block's route). This node's own
	// borrowed addresses need nothing: their workload routes are local.
	for _, b := range r.blocks {
		pool, ok := r.vxlanPool(b.cidr)
		if !ok || b.borrowed == "" {
			continue
		}
		for a, holder := range b.borrowedAddrs() {
			if holder == self {
				continue
			}
			routeTo(netip.PrefixFrom(a, a.BitLen()), holder, pool)
		}
	}
	return pools, vteps, routes
}

// flushRoutes returns the messages for what changed, in an order the
// dataplane can follow: pools and VTEPs before the routes that use them,
// routes removed before the VTEPs they used.
func (g *Graph) flushRoutes() []proto.Message {
	r := &g.blocks
	if !r.dirty {
		return nil
	}
	r.dirty = false
	pools, vteps, routes := r.desired(g.cfg.Hostname)
	s := &r.sent
	var out []proto.Message
	for _, id := range slices.Sorted(maps.Keys(pools)) {
		if old, ok := s.pools[id]; !ok || old != pools[id] {
			out = append(out, pools[id])
		}
	}
	for _, n := range slices.Sorted(maps.Keys(vteps)) {
		if old, ok := s.vteps[n]; !ok || old != vteps[n] {
			out = append(out, vteps[n])
		}
	}
	for _, p := range slices.SortedFunc(maps.Keys(routes), netip.Prefix.Compare) {
		if old, ok := s.routes[p]; !ok || old != routes[p] {
			out = append(out, routes[p])
		}
	}
	for _, p := range slices.SortedFunc(maps.Keys(s.routes), netip.Prefix.Compare) {
		if _, ok := routes[p]; !ok {
			out = append(out, proto.RouteRemove{Dst: p})
		}
	}
	for _, n := range slices.Sorted(maps.Keys(s.vteps)) {
		if _, ok := vteps[n]; !ok {
			out = append(out, proto.VTEPRemove{Node: n})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.pools)) {
		if _, ok := pools[id]; !ok {
			out = append(out, proto.IPPoolRemove{ID: id})
		}
	}
	s.pools, s.vteps, s.routes = pools, vteps, routes
	return out
}
