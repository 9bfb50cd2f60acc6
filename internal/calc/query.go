package calc

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
	"github.com/calicong/calico/internal/selector"
)

// The methods in this file answer questions about the graph's state for
// tools (calicoq). They reflect the last Flush and may take time
// proportional to the number of endpoints.

// Item describes an endpoint or network set.
type Item struct {
	Key model.Key
	// Labels are the effective labels: the item's own and those it
	// inherits from its profiles.
	Labels map[string]string
	Nets   []netip.Prefix
}

// Endpoint describes a local endpoint and the policy that applies to it.
type Endpoint struct {
	Item
	Pod       string // workload endpoints
	Node      string
	Interface string
	Profiles  []string
	// Tiers are the policies that apply, in evaluation order. For host
	// endpoints, the forward, pre-DNAT and untracked tiers follow.
	Tiers          []proto.TierInfo
	ForwardTiers   []proto.TierInfo
	PreDNATTiers   []proto.TierInfo
	UntrackedTiers []proto.TierInfo
}

func compareKeys(a, b model.Key) int {
	return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
}

func (g *Graph) itemInfo(key model.Key, id itemID) Item {
	it := Item{Key: key, Nets: g.item(id).nets()}
	if l, ok := g.setIndex.Labels(id); ok {
		if m, ok := l.(selector.Map); ok {
			it.Labels = m
		}
	}
	return it
}

// Items lists every endpoint and network set, sorted by key.
func (g *Graph) Items() []Item {
	var out []Item
	for id, it := range g.items.all {
		out = append(out, g.itemInfo(it.key(), id))
	}
	slices.SortFunc(out, func(a, b Item) int { return compareKeys(a.Key, b.Key) })
	return out
}

// Select lists the endpoints and network sets a selector matches, with
// inherited labels taken into account, sorted by key.
func (g *Graph) Select(sel *selector.Selector) []model.Key {
	var out []model.Key
	for id, it := range g.items.all {
		if l, ok := g.setIndex.Labels(id); ok && sel.EvaluateLabels(l) {
			out = append(out, it.key())
		}
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// Endpoints lists the local endpoints with their policies, sorted by key.
func (g *Graph) Endpoints() []Endpoint {
	var out []Endpoint
	for id, it := range g.items.all {
		if it.local != nil {
			out = append(out, g.endpointOf(id, it))
		}
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return compareKeys(a.Key, b.Key) })
	return out
}

// Endpoint is one local endpoint with its policies, as Endpoints lists
// it (false if there is no such local endpoint).
func (g *Graph) Endpoint(key model.Key) (Endpoint, bool) {
	id, ok := g.items.lookup(key)
	if !ok || g.item(id).local == nil {
		return Endpoint{}, false
	}
	return g.endpointOf(id, g.item(id)), true
}

func (g *Graph) endpointOf(id itemID, it *item) Endpoint {
	ep := it.local
	e := Endpoint{Item: g.itemInfo(it.key(), id), Profiles: slices.Clone(ep.profiles)}
	switch m := ep.sent.(type) {
	case proto.WorkloadEndpointUpdate:
		e.Pod, e.Node, e.Interface, e.Tiers = m.Endpoint.Pod, m.Endpoint.Node, m.Endpoint.Interface, m.Endpoint.Tiers
	case proto.HostEndpointUpdate:
		h := m.Endpoint
		e.Node, e.Interface, e.Tiers, e.ForwardTiers, e.PreDNATTiers, e.UntrackedTiers = h.Node, h.Interface, h.Tiers, h.ForwardTiers, h.PreDNATTiers, h.UntrackedTiers
	}
	return e
}

// EndpointFor finds the local workload endpoint that owns an address.
func (g *Graph) EndpointFor(a netip.Addr) (model.Key, bool) {
	ep := g.endpointByAddr(a)
	if ep == nil {
		return model.Key{}, false
	}
	return model.Key{Kind: model.KindWorkloadEndpoint, Namespace: ep.wepID.Namespace, Name: ep.wepID.Name}, true
}

// Policy describes one policy.
type Policy struct {
	ID       proto.PolicyID
	Tier     string
	Order    *float64
	Selector string // the combined endpoint selector
	Ingress  bool
	Egress   bool
	Rendered *proto.Policy
	// AppliesTo lists the local endpoints the policy selects.
	AppliesTo []model.Key
}

// PolicyIDs lists every policy the graph knows, sorted.
func (g *Graph) PolicyIDs() []proto.PolicyID {
	var out []proto.PolicyID
	for id, st := range g.policies {
		if st.p != nil {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, comparePolicyIDs)
	return out
}

// PolicyInfo describes a policy, or reports false if it does not exist.
// Rendered is a policy's rendered rules (nil if the graph does not
// know it); cheaper than PolicyInfo, which finds the endpoints too.
func (g *Graph) Rendered(id proto.PolicyID) *proto.Policy {
	st := g.policies[id]
	if st == nil || st.p == nil {
		return nil
	}
	return st.p.rendered
}

func (g *Graph) PolicyInfo(id proto.PolicyID) (Policy, bool) {
	st := g.policies[id]
	if st == nil || st.p == nil {
		return Policy{}, false
	}
	p := st.p
	out := Policy{ID: id, Tier: p.tier, Selector: p.sel.String(), Ingress: p.ingress, Egress: p.egress, Rendered: p.rendered}
	if p.hasOrder {
		o := p.order
		out.Order = &o
	}
	for _, it := range g.items.all {
		if ep := it.local; ep != nil {
			if _, ok := ep.policies[st.handle]; ok {
				out.AppliesTo = append(out.AppliesTo, it.key())
			}
		}
	}
	slices.SortFunc(out.AppliesTo, compareKeys)
	return out, true
}

// SideSelector is the selector of one side of a rule (its selector,
// namespaceSelector and serviceAccounts combined), or nil when the side
// selects no endpoints in particular.
func (g *Graph) SideSelector(id proto.PolicyID, side *proto.RuleSide) *selector.Selector {
	if side == nil || len(side.IPSetIDs) == 0 {
		return nil
	}
	st := g.policies[id]
	if st == nil || st.p == nil {
		return nil
	}
	for _, spec := range st.p.sets {
		if spec.id == side.IPSetIDs[0] {
			return spec.sel
		}
	}
	return nil
}

// SideMatches lists the endpoints and network sets one side of a rule
// selects through its selector, namespaceSelector and serviceAccounts, and
// whether the side selects anything at all (a side with only nets or ports
// selects no endpoints in particular).
func (g *Graph) SideMatches(id proto.PolicyID, side *proto.RuleSide) ([]model.Key, bool) {
	sel := g.SideSelector(id, side)
	if sel == nil {
		return nil, false
	}
	return g.Select(sel), true
}

// PolicyRulesSelecting lists, for an endpoint, the rules of every policy
// whose source or destination selects it.
func (g *Graph) PolicyRulesSelecting(key model.Key) []RuleRefSide {
	id, ok := g.items.lookup(key)
	if !ok {
		return nil
	}
	labels, _ := g.setIndex.Labels(id)
	var out []RuleRefSide
	for _, pid := range g.PolicyIDs() {
		st := g.policies[pid]
		specs := map[string]*ipSetSpec{}
		for _, s := range st.p.sets {
			specs[s.id] = s
		}
		check := func(rules []*proto.Rule, inbound bool) {
			for _, r := range rules {
				for _, side := range []struct {
					s   *proto.RuleSide
					dst bool
				}{{r.Src, false}, {r.Dst, true}} {
					if side.s == nil || len(side.s.IPSetIDs) == 0 {
						continue
					}
					if spec := specs[side.s.IPSetIDs[0]]; spec != nil && spec.sel.EvaluateLabels(labels) {
						out = append(out, RuleRefSide{Policy: pid, Inbound: inbound, Rule: int(r.Index), Destination: side.dst})
					}
				}
			}
		}
		check(st.p.rendered.InboundRules, true)
		check(st.p.rendered.OutboundRules, false)
	}
	return out
}

// RuleRefSide says that one side of one rule selects something.
type RuleRefSide struct {
	Policy      proto.PolicyID
	Inbound     bool // an ingress rule (else egress)
	Rule        int
	Destination bool // the destination side (else the source)
}
