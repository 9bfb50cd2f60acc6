package calc

import (
	"maps"
	"net/netip"
	"slices"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

// blockRoutes tracks the IPAM blocks affine to this node. Blocks are
// rewritten on every allocation; only a change of CIDR or affinity
// produces a message.
type blockRoutes struct {
	local map[string]netip.Prefix // block name → CIDR, blocks affine to us
	sent  map[netip.Prefix]struct{}
	dirty bool
}

func (g *Graph) onIPAMBlock(key model.Key, value any) {
	if g.blocks.local == nil {
		g.blocks.local, g.blocks.sent = map[string]netip.Prefix{}, map[netip.Prefix]struct{}{}
	}
	old, had := g.blocks.local[key.Name]
	b, _ := value.(*v3.IPAMBlock)
	cidr, ok := localBlock(b, g.cfg.Hostname)
	switch {
	case ok && (!had || old != cidr):
		g.blocks.local[key.Name] = cidr
		g.blocks.dirty = true
	case !ok && had:
		delete(g.blocks.local, key.Name)
		g.blocks.dirty = true
	}
}

// localBlock returns the block's CIDR if it is affine to host.
func localBlock(b *v3.IPAMBlock, host string) (netip.Prefix, bool) {
	if b == nil || b.Spec.Deleted || b.Spec.Affinity == nil || *b.Spec.Affinity != "host:"+host || host == "" {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(b.Spec.CIDR)
	if err != nil {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

// flushRoutes returns the route messages for what changed.
func (g *Graph) flushRoutes() []proto.Message {
	if !g.blocks.dirty {
		return nil
	}
	g.blocks.dirty = false
	want := map[netip.Prefix]struct{}{}
	for _, p := range g.blocks.local {
		want[p] = struct{}{}
	}
	var out []proto.Message
	for _, p := range slices.SortedFunc(maps.Keys(want), netip.Prefix.Compare) {
		if _, ok := g.blocks.sent[p]; !ok {
			out = append(out, proto.RouteUpdate{Dst: p, Type: proto.RouteLocalBlock})
		}
	}
	for _, p := range slices.SortedFunc(maps.Keys(g.blocks.sent), netip.Prefix.Compare) {
		if _, ok := want[p]; !ok {
			out = append(out, proto.RouteRemove{Dst: p})
		}
	}
	g.blocks.sent = want
	return out
}
