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
//     subnet, straight to the owner's address. Blocks of other pools are
//     left to BGP.
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
	for _, b := range r.blocks {
		if b.node == self {
			routes[b.cidr] = routeMsg{Dst: b.cidr, Type: proto.RouteLocalBlock}
			continue
		}
		pool, ok := r.vxlanPool(b.cidr)
		if !ok {
			continue
		}
		owner := r.nodes[b.node]
		if pool.vxlan == v3.EncapCrossSubnet && me.ip.IsValid() && owner.ip.IsValid() && me.ip.Masked().Contains(owner.ip.Addr()) {
			routes[b.cidr] = routeMsg{Dst: b.cidr, Type: proto.RouteRemoteDirect, Node: b.node, Gateway: owner.ip.Addr()}
			continue
		}
		if v, ok := vteps[b.node]; ok {
			routes[b.cidr] = routeMsg{Dst: b.cidr, Type: proto.RouteRemoteVXLAN, Node: b.node, Gateway: v.TunnelIP}
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
