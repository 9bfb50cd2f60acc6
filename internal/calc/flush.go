package calc

import (
	"cmp"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/proto"
)

// Flush computes everything marked dirty since the last flush and sends
// the resulting messages to the sink in dependency order:
//
//	IP set creations and member changes
//	→ policy and profile updates
//	→ endpoint updates
//	→ endpoint removals → profile removals → policy removals → IP set removals
//	→ route changes (this node's IPAM blocks)
//	→ InSync (once, after the datastore reported in-sync)
//
// so the dataplane never sees a reference to something it does not have.
func (g *Graph) Flush() {
	var (
		newRefs []*ipSetSpec
		oldRefs []string
		polUpd  []proto.Message
		polRem  []proto.Message
		profUpd []proto.Message
		profRem []proto.Message
	)

	// Policies: send the active ones that changed, retire the rest.
	for _, id := range sortedPolicyIDs(g.dirtyPolicies) {
		st := g.policies[id]
		if st == nil {
			continue
		}
		if st.active() {
			if st.sent != st.p.rendered {
				oldRefs = append(oldRefs, st.sentSets...)
				st.sentSets = st.sentSets[:0:0]
				for _, s := range st.p.sets {
					newRefs = append(newRefs, s)
					st.sentSets = append(st.sentSets, s.id)
				}
				polUpd = append(polUpd, proto.ActivePolicyUpdate{ID: id, Policy: st.p.rendered})
				st.sent = st.p.rendered
			}
			continue
		}
		if st.sent != nil {
			polRem = append(polRem, proto.ActivePolicyRemove{ID: id})
			oldRefs = append(oldRefs, st.sentSets...)
			st.sent, st.sentSets = nil, nil
		}
		if st.p == nil && st.localMatches == 0 {
			g.dropPolicyState(st)
		}
	}

	// Profiles used by local endpoints. A missing profile is sent as
	// deny-all: an endpoint never falls back to allowing traffic because
	// its profile has not arrived.
	for _, name := range slices.Sorted(maps.Keys(g.dirtyProfiles)) {
		st := g.profiles[name]
		if st == nil {
			continue
		}
		if st.refs > 0 {
			if st.sent != st.rendered {
				oldRefs = append(oldRefs, st.sentSets...)
				st.sentSets = st.sentSets[:0:0]
				for _, s := range st.sets {
					newRefs = append(newRefs, s)
					st.sentSets = append(st.sentSets, s.id)
				}
				profUpd = append(profUpd, proto.ActiveProfileUpdate{ID: name, Profile: st.rendered})
				st.sent = st.rendered
			}
			continue
		}
		if st.sent != nil {
			profRem = append(profRem, proto.ActiveProfileRemove{ID: name})
			oldRefs = append(oldRefs, st.sentSets...)
			st.sent, st.sentSets = nil, nil
		}
		if !st.exists {
			delete(g.profiles, name)
		}
	}

	// Take new references before dropping old ones, so a set that moves
	// from one rule to another is not deleted and re-created.
	for _, s := range newRefs {
		g.refSet(s)
	}
	var setRem []proto.Message
	for _, id := range oldRefs {
		if s := g.ipsets[id]; s != nil && g.unrefSet(id) && s.sent {
			setRem = append(setRem, proto.IPSetRemove{ID: id})
		}
	}
	slices.SortFunc(setRem, func(a, b proto.Message) int { return cmp.Compare(a.(proto.IPSetRemove).ID, b.(proto.IPSetRemove).ID) })

	var out []proto.Message
	for _, id := range slices.Sorted(maps.Keys(g.ipsets)) {
		s := g.ipsets[id]
		switch {
		case !s.sent:
			out = append(out, proto.IPSetUpdate{ID: id, Type: s.spec.setType(), Members: sortedMembers(maps.Keys(s.members))})
			s.sent = true
		case len(s.added) > 0 || len(s.removed) > 0:
			out = append(out, proto.IPSetDeltaUpdate{ID: id, Added: sortedMembers(maps.Keys(s.added)), Removed: sortedMembers(maps.Keys(s.removed))})
		}
		s.added, s.removed = nil, nil
	}
	out = append(out, polUpd...)
	out = append(out, profUpd...)

	// Endpoints, with their tiers resolved.
	for _, id := range slices.Sorted(maps.Keys(g.dirtyEndpoints)) {
		ep := g.locals[id]
		if ep == nil {
			continue
		}
		if msg := g.endpointUpdate(ep); !reflect.DeepEqual(msg, ep.sent) {
			out = append(out, msg)
			ep.sent = msg
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(g.removedWEPs), func(a, b proto.WorkloadEndpointID) int {
		return cmp.Compare(a.String(), b.String())
	}) {
		out = append(out, proto.WorkloadEndpointRemove{ID: id})
	}
	for _, id := range slices.Sorted(maps.Keys(g.removedHEPs)) {
		out = append(out, proto.HostEndpointRemove{ID: id})
	}
	out = append(out, profRem...)
	out = append(out, polRem...)
	out = append(out, setRem...)
	out = append(out, g.flushRoutes()...)
	if g.inSync && !g.sentInSync {
		out = append(out, proto.InSync{})
		g.sentInSync = true
	}
	clear(g.dirtyPolicies)
	clear(g.dirtyProfiles)
	clear(g.dirtyEndpoints)
	clear(g.removedWEPs)
	clear(g.removedHEPs)
	if len(out) > 0 {
		g.sink(out)
	}
}

func sortedPolicyIDs(m map[proto.PolicyID]struct{}) []proto.PolicyID {
	return slices.SortedFunc(maps.Keys(m), comparePolicyIDs)
}

func comparePolicyIDs(a, b proto.PolicyID) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func sortedMembers(seq func(func(member) bool)) []proto.Member {
	var out []proto.Member
	for m := range seq {
		out = append(out, m.toProto())
	}
	slices.SortFunc(out, func(a, b proto.Member) int {
		return cmp.Or(a.Net.Addr().Compare(b.Net.Addr()), cmp.Compare(a.Net.Bits(), b.Net.Bits()),
			cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
	})
	return out
}

func sortedSpecs(m map[string]*ipSetSpec) []*ipSetSpec {
	out := make([]*ipSetSpec, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}

// allowAllProfile is the built-in projectcalico-default-allow.
var allowAllProfile = &proto.Profile{
	InboundRules:  []*proto.Rule{{Action: string(v3.Allow)}},
	OutboundRules: []*proto.Rule{{Action: string(v3.Allow)}},
}

// denyAllProfile stands in for a profile that does not exist.
var denyAllProfile = &proto.Profile{
	InboundRules:  []*proto.Rule{{Action: string(v3.Deny)}},
	OutboundRules: []*proto.Rule{{Action: string(v3.Deny)}},
}

// endpointUpdate builds a local endpoint's update with its tiers.
func (g *Graph) endpointUpdate(ep *localEndpoint) proto.Message {
	if ep.kind == kindHost {
		h := *ep.hep
		h.Tiers = g.resolveTiers(ep, func(p *policy) bool { return !p.doNotTrack && !p.preDNAT })
		h.ForwardTiers = g.resolveTiers(ep, func(p *policy) bool { return !p.doNotTrack && !p.preDNAT && p.applyOnForward })
		h.PreDNATTiers = g.resolveTiers(ep, func(p *policy) bool { return p.preDNAT })
		h.UntrackedTiers = g.resolveTiers(ep, func(p *policy) bool { return p.doNotTrack })
		return proto.HostEndpointUpdate{ID: ep.hepID, Endpoint: &h}
	}
	w := *ep.wep
	// Pre-DNAT and untracked policies are for host endpoints only.
	w.Tiers = g.resolveTiers(ep, func(p *policy) bool { return !p.doNotTrack && !p.preDNAT })
	return proto.WorkloadEndpointUpdate{ID: ep.wepID, Endpoint: &w}
}

// resolveTiers orders the policies that select an endpoint: tiers by order
// (unset last) then name; within a tier, policies by order (unset last),
// then name, namespace and kind. A tier is listed only if one of its
// policies applies to the endpoint.
func (g *Graph) resolveTiers(ep *localEndpoint, include func(*policy) bool) []proto.TierInfo {
	type entry struct {
		tierOrder float64
		order     float64
		p         *policy
	}
	entries := make([]entry, 0, len(ep.policies))
	for h := range ep.policies {
		st := g.handles[h]
		// Only policies the dataplane has (sent this flush) can be
		// referenced.
		if st == nil || st.p == nil || st.sent == nil || !include(st.p) {
			continue
		}
		entries = append(entries, entry{tierOrder: g.tierOrder(st.p.tier), order: policyOrder(st.p), p: st.p})
	}
	if len(entries) == 0 {
		return nil
	}
	slices.SortFunc(entries, func(a, b entry) int {
		switch {
		case a.tierOrder != b.tierOrder:
			return cmp.Compare(a.tierOrder, b.tierOrder)
		case a.p.tier != b.p.tier:
			return strings.Compare(a.p.tier, b.p.tier)
		case a.order != b.order:
			return cmp.Compare(a.order, b.order)
		}
		return comparePolicyNames(a.p, b.p)
	})
	var tiers []proto.TierInfo
	for i, e := range entries {
		if i == 0 || e.p.tier != entries[i-1].p.tier {
			tiers = append(tiers, proto.TierInfo{Name: e.p.tier, DefaultAction: g.tierDefaultAction(e.p.tier)})
		}
		t := &tiers[len(tiers)-1]
		if e.p.ingress {
			t.IngressPolicies = append(t.IngressPolicies, e.p.id)
		}
		if e.p.egress {
			t.EgressPolicies = append(t.EgressPolicies, e.p.id)
		}
	}
	return tiers
}

// comparePolicyNames breaks ties between policies of equal order. (Not
// cmp.Or: its arguments would all be evaluated, string comparisons
// included.)
func comparePolicyNames(a, b *policy) int {
	if c := strings.Compare(a.id.Name, b.id.Name); c != 0 {
		return c
	}
	if c := strings.Compare(a.id.Namespace, b.id.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.id.Kind, b.id.Kind)
}

func policyOrder(p *policy) float64 {
	if !p.hasOrder {
		return math.Inf(1)
	}
	return p.order
}

// tierOrder returns a tier's order; a tier that is missing or has no order
// sorts last.
func (g *Graph) tierOrder(name string) float64 {
	if t := g.tiers[name]; t != nil && t.Spec.Order != nil {
		return *t.Spec.Order
	}
	if bt, ok := v3.BuiltinTierFor(name); ok && g.tiers[name] == nil {
		return bt.Order
	}
	return math.Inf(1)
}

// tierDefaultAction is Deny unless the tier says Pass: a policy in a tier
// that does not exist fails closed.
func (g *Graph) tierDefaultAction(name string) string {
	if t := g.tiers[name]; t != nil && t.Spec.DefaultAction == v3.Pass {
		return string(v3.Pass)
	}
	if t := g.tiers[name]; t == nil {
		if bt, ok := v3.BuiltinTierFor(name); ok {
			return string(bt.DefaultAction)
		}
	}
	return string(v3.Deny)
}
