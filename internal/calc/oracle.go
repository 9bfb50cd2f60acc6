package calc

import (
	"net/netip"
	"strings"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/proto"
)

// Packet is the traffic the oracle evaluates: the first packet of a
// connection.
type Packet struct {
	Src, Dst         netip.Addr
	Protocol         uint8
	SrcPort, DstPort uint16
	// ICMPType and ICMPCode are -1 when not ICMP (or unknown).
	ICMPType, ICMPCode int

	// InInterface is the host interface a packet from outside the node
	// arrives on, OutInterface the one a packet leaves the node by. ""
	// stands for an interface without a host endpoint of its own (a host
	// endpoint for all interfaces, "*", still applies to it). When the
	// destination (source) is a host endpoint's expected IP, that
	// endpoint's interface is the default InInterface (OutInterface).
	InInterface, OutInterface string
	// FromHost and ToHost say that the source or destination is the node
	// itself, for addresses that are not a host endpoint's expected IPs.
	FromHost, ToHost bool
	// Node is the node whose host endpoints apply when neither end says
	// (traffic forwarded between two outside addresses, or the node behind
	// FromHost/ToHost); default the graph's Hostname.
	Node string
}

// Decision reasons.
const (
	ReasonPolicy      = "policy"       // a policy rule decided
	ReasonTierDefault = "tier-default" // a tier's default action decided
	ReasonProfile     = "profile"      // a profile rule decided
	ReasonNoMatch     = "no-match"     // nothing allowed the packet, so it is dropped
	// ReasonNoEndpoint: the address is not a local Calico endpoint, so no
	// policy of this direction applies.
	ReasonNoEndpoint = "no-endpoint"
	// ReasonFailsafe: a failsafe port of a host endpoint, open whatever
	// the policy.
	ReasonFailsafe = "failsafe"
	// ReasonHostToLocal: the host reaching one of its own workloads (or
	// itself) is always allowed; workload ingress policy does not apply.
	ReasonHostToLocal = "host-to-local"
	// ReasonEndpointToHost: a workload's traffic to its own host, after its
	// egress policy allowed it, gets DefaultEndpointToHostAction.
	ReasonEndpointToHost = "endpoint-to-host"
	// ReasonNoForwardPolicy: forwarded through a host endpoint with no
	// applyOnForward policy that decided, which allows it.
	ReasonNoForwardPolicy = "no-forward-policy"
)

// Host endpoint stages: where in the packet path a host endpoint's
// decision was made.
const (
	StageUntracked = "untracked" // doNotTrack policy, before connection tracking
	StagePreDNAT   = "pre-dnat"  // preDNAT policy, before DNAT
	StageForward   = "forward"   // applyOnForward policy, forwarded traffic
	StageHost      = "host"      // normal policy, traffic to or from the host
)

// Decision is how one direction (the source's egress or the destination's
// ingress) treated a packet, and what decided it.
type Decision struct {
	Verdict string          `json:"verdict"` // Allow or Deny
	Reason  string          `json:"reason"`
	Stage   string          `json:"stage,omitempty"` // host endpoints only
	Tier    string          `json:"tier,omitempty"`
	Policy  *proto.PolicyID `json:"policy,omitempty"`
	Profile string          `json:"profile,omitempty"`
	Rule    *int            `json:"rule,omitempty"`
	Action  string          `json:"action,omitempty"` // the rule's action or the default applied
	Logged  []RuleRef       `json:"logged,omitempty"` // Log rules passed on the way
	// Passed are the Pass rules that sent the packet on to a later tier,
	// in order.
	Passed []RuleRef `json:"passed,omitempty"`
	// LastPolicy, for a tier's default action, is the tier's last policy
	// that applied: Calico's flow logs name the default action by it.
	LastPolicy *proto.PolicyID `json:"lastPolicy,omitempty"`
	Endpoint   string          `json:"endpoint,omitempty"`
	// HTTPNotEnforced says the deciding rule has an HTTP match, which the
	// L3/L4 dataplane does not enforce: the rule decided on its L3/L4
	// part alone, as the kernel does.
	HTTPNotEnforced bool `json:"httpNotEnforced,omitempty"`
	// Staged says what would happen if the staged policies were enforced
	// (Set replaces the enforced policy of the same name, Delete removes
	// it); set only when a staged policy applies to the endpoint.
	Staged *Decision `json:"staged,omitempty"`
}

// RuleRef points at one rule of a policy.
type RuleRef struct {
	Tier   string         `json:"tier"`
	Policy proto.PolicyID `json:"policy"`
	Rule   int            `json:"rule"`
}

// Trace is the oracle's answer for one packet: the source's egress, the
// host endpoints it was forwarded through, and the destination's ingress.
// The packet is allowed only if every decision allowed it.
type Trace struct {
	Verdict string      `json:"verdict"`
	Egress  *Decision   `json:"egress"`
	Via     []*Decision `json:"via,omitempty"`
	Ingress *Decision   `json:"ingress"`
}

// party is one end of a packet.
type party struct {
	wl   *localEndpoint // a local workload
	host bool           // the node itself
	hep  *localEndpoint // the host endpoint whose expected IP it is
	node string         // the node of a workload or host; "" outside
}

func (g *Graph) partyOf(a netip.Addr, isHost bool, node string) party {
	if ep := g.endpointByAddr(a); ep != nil {
		// A workload without a node (from a manifest) is taken to be on
		// the node the packet names.
		n := ep.wep.Node
		if n == "" {
			n = g.nodeOr(node)
		}
		return party{wl: ep, node: n}
	}
	if h := g.hostByAddr(a); h != nil {
		return party{host: true, hep: h, node: h.hep.Node}
	}
	if isHost {
		return party{host: true, node: g.nodeOr(node)}
	}
	return party{}
}

func (g *Graph) nodeOr(node string) string {
	if node != "" {
		return node
	}
	return g.cfg.Hostname
}

// Evaluate answers "would this packet be allowed, and by what", following
// the packet as the dataplane does: the source's egress (a workload's
// policy, or host endpoint policy for the host's own traffic), the host
// endpoints it is forwarded through (untracked, pre-DNAT and
// applyOnForward policy, failsafe ports), and the destination's ingress.
// It reflects the state of the last Flush.
func (g *Graph) Evaluate(pkt Packet) Trace {
	src := g.partyOf(pkt.Src, pkt.FromHost, pkt.Node)
	dst := g.partyOf(pkt.Dst, pkt.ToHost, pkt.Node)
	in, out := pkt.InInterface, pkt.OutInterface
	if in == "" && dst.hep != nil && dst.hep.hep.Interface != "*" {
		in = dst.hep.hep.Interface
	}
	if out == "" && src.hep != nil && src.hep.hep.Interface != "*" {
		out = src.hep.hep.Interface
	}
	local := (src.wl != nil || src.host) && (dst.wl != nil || dst.host) && src.node == dst.node

	var t Trace
	switch {
	case src.host && local:
		// The host's own traffic to its workloads or to itself is not
		// policed (Kubernetes needs it for probes).
		t.Egress = &Decision{Verdict: string(v3.Allow), Reason: ReasonHostToLocal}
		t.Ingress = &Decision{Verdict: string(v3.Allow), Reason: ReasonHostToLocal}
		t.Verdict = string(v3.Allow)
		return t
	case src.host:
		t.Egress = g.fromHost(src.node, out, pkt)
	case src.wl != nil:
		t.Egress = g.decideWorkload(src.wl, pkt, false)
		if !local {
			if h := g.hepFor(src.node, out); h != nil {
				t.Via = append(t.Via, g.forwarded(h, pkt, false))
			}
		}
	default:
		t.Egress = noEndpoint()
	}

	switch {
	case dst.host && local:
		t.Ingress = g.endpointToHost()
	case dst.host:
		t.Ingress = g.toHost(dst.node, in, pkt)
	case dst.wl != nil:
		if !local {
			t.Via = append(t.Via, g.arriving(dst.node, in, pkt)...)
		}
		t.Ingress = g.decideWorkload(dst.wl, pkt, true)
	default:
		if src.wl == nil && !src.host {
			// Forwarded between two outside addresses.
			node := g.nodeOr(pkt.Node)
			t.Via = append(t.Via, g.arriving(node, in, pkt)...)
			if h := g.hepFor(node, out); h != nil {
				t.Via = append(t.Via, g.forwarded(h, pkt, false))
			}
		}
		t.Ingress = noEndpoint()
	}
	t.Verdict = string(v3.Allow)
	for _, d := range append([]*Decision{t.Egress, t.Ingress}, t.Via...) {
		if d.Verdict != string(v3.Allow) {
			t.Verdict = string(v3.Deny)
		}
	}
	return t
}

func noEndpoint() *Decision {
	return &Decision{Verdict: string(v3.Allow), Reason: ReasonNoEndpoint}
}

// endpointByAddr finds the local workload endpoint that owns an address.
func (g *Graph) endpointByAddr(a netip.Addr) *localEndpoint {
	for _, ep := range g.locals {
		if ep.kind != kindWorkload {
			continue
		}
		for _, n := range g.item(ep.id).nets() {
			if n.Contains(a) {
				return ep
			}
		}
	}
	return nil
}

// tierPolicies is one tier's policies for one direction.
type tierPolicies struct {
	name, defaultAction string
	policies            []*policyState
	ids                 []proto.PolicyID
}

func (g *Graph) decideWorkload(ep *localEndpoint, pkt Packet, ingress bool) *Decision {
	upd, ok := ep.sent.(proto.WorkloadEndpointUpdate)
	if !ok {
		return noEndpoint()
	}
	return g.decide(ep.wepID.String(), upd.Endpoint.Tiers, upd.Endpoint.ProfileIDs, pkt, ingress, walkAll)
}

// decide evaluates one endpoint's tiers (and profiles) for one direction,
// and what the staged policies would make of the packet. With walkOptional
// it returns nil when no policy decided.
func (g *Graph) decide(name string, infos []proto.TierInfo, profiles []string, pkt Packet, ingress bool, mode walkMode) *Decision {
	var tiers []tierPolicies
	stagedApplies := false
	for _, ti := range infos {
		ids := ti.EgressPolicies
		if ingress {
			ids = ti.IngressPolicies
		}
		if len(ids) == 0 {
			continue
		}
		tp := tierPolicies{name: ti.Name, defaultAction: ti.DefaultAction}
		for _, id := range ids {
			if id.Staged() {
				stagedApplies = true
			}
			tp.ids = append(tp.ids, id)
			tp.policies = append(tp.policies, g.policies[id])
		}
		tiers = append(tiers, tp)
	}
	enforced := filterTiers(tiers, func(id proto.PolicyID) bool { return !id.Staged() })
	d := g.walk(enforced, profiles, pkt, ingress, mode)
	if d == nil {
		return nil
	}
	d.Endpoint = name
	if mode != walkOptional && (stagedApplies || g.stagedReplacesAny(tiers)) {
		s := g.walk(g.stagedView(tiers), profiles, pkt, ingress, mode)
		s.Endpoint = name
		d.Staged = s
	}
	return d
}

func filterTiers(tiers []tierPolicies, keep func(proto.PolicyID) bool) []tierPolicies {
	var out []tierPolicies
	for _, t := range tiers {
		nt := tierPolicies{name: t.name, defaultAction: t.defaultAction}
		for i, id := range t.ids {
			if keep(id) {
				nt.ids = append(nt.ids, id)
				nt.policies = append(nt.policies, t.policies[i])
			}
		}
		// A tier whose only policies are filtered out (staged ones, say)
		// takes no part: no end-of-tier drop.
		if len(nt.ids) > 0 {
			out = append(out, nt)
		}
	}
	return out
}

// counterpart names the enforced policy a staged policy would replace.
func counterpart(id proto.PolicyID) proto.PolicyID {
	c := id
	c.Kind = strings.TrimPrefix(id.Kind, "Staged")
	return c
}

// stagedOverrides lists enforced policies that staged Set or Delete
// policies would replace or remove.
func (g *Graph) stagedOverrides() map[proto.PolicyID]bool {
	out := map[proto.PolicyID]bool{}
	for id, st := range g.policies {
		if !id.Staged() || st.p == nil {
			continue
		}
		if st.p.stagedAction == string(v3.StagedActionSet) || st.p.stagedAction == string(v3.StagedActionDelete) {
			out[counterpart(id)] = true
		}
	}
	return out
}

func (g *Graph) stagedReplacesAny(tiers []tierPolicies) bool {
	over := g.stagedOverrides()
	for _, t := range tiers {
		for _, id := range t.ids {
			if over[id] {
				return true
			}
		}
	}
	return false
}

// stagedView is the endpoint's tiers as they would be with the staged
// policies enforced.
func (g *Graph) stagedView(tiers []tierPolicies) []tierPolicies {
	over := g.stagedOverrides()
	return filterTiers(tiers, func(id proto.PolicyID) bool {
		if id.Staged() {
			st := g.policies[id]
			return st != nil && st.p != nil && st.p.stagedAction == string(v3.StagedActionSet)
		}
		return !over[id]
	})
}

// walkMode says what ends an evaluation, mirroring the dataplane's
// chains.
type walkMode int

const (
	// walkAll: tiers with their default actions, then profiles, then drop.
	walkAll walkMode = iota
	// walkForward: tiers with their default actions; what no tier decided
	// is allowed (forwarded traffic through a host endpoint).
	walkForward
	// walkOptional: policies decide what they match, tier defaults do not
	// apply, and anything else is left to the next stage (untracked and
	// pre-DNAT policy).
	walkOptional
)

// walk evaluates tiers then profiles, as the dataplane does: Allow and
// Deny end the evaluation, Pass skips to the next tier, Log carries on; a
// tier that decided nothing applies its default action; after the tiers,
// the first profile rule that matches decides; nothing matching is a drop.
func (g *Graph) walk(tiers []tierPolicies, profiles []string, pkt Packet, ingress bool, mode walkMode) *Decision {
	var logged, passed []RuleRef
tiers:
	for _, t := range tiers {
		var last *proto.PolicyID // the tier's last policy that applies
		for i, st := range t.policies {
			if st == nil || st.sent == nil {
				continue
			}
			last = &t.ids[i]
			rules := st.sent.OutboundRules
			if ingress {
				rules = st.sent.InboundRules
			}
			for _, r := range rules {
				if !g.ruleMatches(r, pkt) {
					continue
				}
				id := t.ids[i]
				switch r.Action {
				case string(v3.Log):
					logged = append(logged, RuleRef{Tier: t.name, Policy: id, Rule: int(r.Index)})
					continue
				case string(v3.Pass):
					passed = append(passed, RuleRef{Tier: t.name, Policy: id, Rule: int(r.Index)})
					continue tiers
				}
				idx := int(r.Index)
				verdict := string(v3.Deny)
				if r.Action == string(v3.Allow) {
					verdict = string(v3.Allow)
				}
				return &Decision{Verdict: verdict, Reason: ReasonPolicy, Tier: t.name, Policy: &id, Rule: &idx, Action: r.Action, Logged: logged,
					Passed: passed, HTTPNotEnforced: r.HTTP != nil}
			}
		}
		if t.defaultAction == string(v3.Pass) || mode == walkOptional {
			continue
		}
		// The tier's last policy stands for its default action, as
		// Calico's flow logs name it (rule index -1).
		return &Decision{Verdict: string(v3.Deny), Reason: ReasonTierDefault, Tier: t.name, LastPolicy: last, Action: t.defaultAction, Logged: logged,
			Passed: passed}
	}
	switch mode {
	case walkOptional:
		return nil
	case walkForward:
		return &Decision{Verdict: string(v3.Allow), Reason: ReasonNoForwardPolicy, Logged: logged, Passed: passed}
	}
	for _, name := range profiles {
		prof := denyAllProfile
		if st := g.profiles[name]; st != nil && st.sent != nil {
			prof = st.sent
		}
		rules := prof.OutboundRules
		if ingress {
			rules = prof.InboundRules
		}
		for _, r := range rules {
			if !g.ruleMatches(r, pkt) || r.Action == string(v3.Log) || r.Action == string(v3.Pass) {
				continue
			}
			idx := int(r.Index)
			verdict := string(v3.Deny)
			if r.Action == string(v3.Allow) {
				verdict = string(v3.Allow)
			}
			return &Decision{Verdict: verdict, Reason: ReasonProfile, Profile: name, Rule: &idx, Action: r.Action, Logged: logged,
				Passed: passed, HTTPNotEnforced: r.HTTP != nil}
		}
	}
	d := &Decision{Verdict: string(v3.Deny), Reason: ReasonNoMatch, Logged: logged, Passed: passed}
	if len(profiles) > 0 {
		d.Profile = profiles[len(profiles)-1] // the last profile stands for the end (rule index -1)
	}
	return d
}

// ruleMatches tells whether a rendered rule matches a packet, using the
// graph's IP sets exactly as the dataplane's set lookups would.
func (g *Graph) ruleMatches(r *proto.Rule, pkt Packet) bool {
	if r.IPVersion != 0 && (r.IPVersion == 4) != pkt.Src.Is4() {
		return false
	}
	if r.Protocol != 0 && r.Protocol != pkt.Protocol {
		return false
	}
	if r.NotProtocol != 0 && r.NotProtocol == pkt.Protocol {
		return false
	}
	if m := r.ICMP; m != nil && (pkt.ICMPType != m.Type || (m.Code >= 0 && pkt.ICMPCode != m.Code)) {
		return false
	}
	if m := r.NotICMP; m != nil && pkt.ICMPType == m.Type && (m.Code < 0 || pkt.ICMPCode == m.Code) {
		return false
	}
	return g.sideMatches(r.Src, false, pkt.Src, pkt.Protocol, pkt.SrcPort) &&
		g.sideMatches(r.Dst, true, pkt.Dst, pkt.Protocol, pkt.DstPort)
}

func (g *Graph) sideMatches(s *proto.RuleSide, dst bool, addr netip.Addr, protocol uint8, port uint16) bool {
	if s == nil {
		return true
	}
	if len(s.Nets) > 0 && !anyContains(s.Nets, addr) {
		return false
	}
	if anyContains(s.NotNets, addr) {
		return false
	}
	for _, id := range s.IPSetIDs {
		if !g.setContains(id, addr) {
			return false
		}
	}
	for _, id := range s.NotIPSetIDs {
		if g.setContains(id, addr) {
			return false
		}
	}
	host := netip.PrefixFrom(addr, addr.BitLen())
	withPort := proto.Member{Net: host, Protocol: protocol, Port: port}
	if len(s.Ports) > 0 || len(s.NamedPortIPSetIDs) > 0 {
		ok := inRanges(s.Ports, port)
		for _, id := range s.NamedPortIPSetIDs {
			ok = ok || g.setHas(id, withPort)
		}
		if !ok {
			return false
		}
	}
	if inRanges(s.NotPorts, port) {
		return false
	}
	for _, id := range s.NotNamedPortIPSetIDs {
		if g.setHas(id, withPort) {
			return false
		}
	}
	if len(s.ServiceIPSetIDs) > 0 {
		m := proto.Member{Net: host}
		if dst {
			m = withPort
		}
		ok := false
		for _, id := range s.ServiceIPSetIDs {
			ok = ok || g.setHas(id, m)
		}
		if !ok {
			return false
		}
	}
	return true
}

func anyContains(nets []netip.Prefix, a netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

func inRanges(rs []proto.PortRange, p uint16) bool {
	for _, r := range rs {
		if p >= r.Min && p <= r.Max {
			return true
		}
	}
	return false
}

func (g *Graph) setHas(id string, m proto.Member) bool {
	s := g.ipsets[id]
	if s == nil {
		return false
	}
	_, ok := s.members[toMember(m)]
	return ok
}

// setContains tells whether an address falls in any member of a net set.
func (g *Graph) setContains(id string, a netip.Addr) bool {
	s := g.ipsets[id]
	if s == nil {
		return false
	}
	if _, ok := s.members[toMember(proto.Member{Net: netip.PrefixFrom(a, a.BitLen())})]; ok {
		return true
	}
	for m := range s.members {
		if m.prefix().Contains(a) {
			return true
		}
	}
	return false
}
