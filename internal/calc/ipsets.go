package calc

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/calicong/calico/internal/domainname"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

// ipSetState is an IP set some active rule uses, with its members counted
// (two endpoints may briefly share an address, and a network set may list
// a CIDR another also lists).
type ipSetState struct {
	spec    *ipSetSpec
	refs    int
	members map[member]int32
	sent    bool // the dataplane has the set
	// Changes since the last flush, only tracked once the set was sent.
	added, removed map[member]struct{}
	dropping       bool
	// learned are a domain set's answers (name, address): LearnDomain
	// adds each once, however often it is answered.
	learned map[domainAnswer]struct{}
}

// domainAnswer is one address a name resolved to.
type domainAnswer struct {
	name string
	addr netip.Addr
}

// member is a compact, comparable form of proto.Member (22 bytes rather
// than 40, and no pointer): sets hold one per endpoint address.
type member struct {
	addr [16]byte
	bits uint8
	v6   bool
	ipp  uint8 // protocol
	port uint16
}

func toMember(m proto.Member) member {
	a := m.Net.Addr()
	return member{addr: a.As16(), bits: uint8(m.Net.Bits()), v6: a.Is6(), ipp: m.Protocol, port: m.Port}
}

func (m member) toProto() proto.Member {
	a := netip.AddrFrom16(m.addr)
	if !m.v6 {
		a = a.Unmap()
	}
	return proto.Member{Net: netip.PrefixFrom(a, int(m.bits)), Protocol: m.ipp, Port: m.port}
}

func (m member) prefix() netip.Prefix { return m.toProto().Net }

func (s *ipSetState) add(pm proto.Member) {
	m := toMember(pm)
	s.members[m]++
	if s.members[m] != 1 || !s.sent {
		return
	}
	if _, ok := s.removed[m]; ok {
		delete(s.removed, m)
		return
	}
	if s.added == nil {
		s.added = map[member]struct{}{}
	}
	s.added[m] = struct{}{}
}

func (s *ipSetState) remove(pm proto.Member) {
	m := toMember(pm)
	n := s.members[m] - 1
	if n > 0 {
		s.members[m] = n
		return
	}
	delete(s.members, m)
	if !s.sent {
		return
	}
	if _, ok := s.added[m]; ok {
		delete(s.added, m)
		return
	}
	if s.removed == nil {
		s.removed = map[member]struct{}{}
	}
	s.removed[m] = struct{}{}
}

// itemMembers calls f with what an item contributes to a set.
func (g *Graph) itemMembers(spec *ipSetSpec, id itemID, f func(proto.Member)) {
	it := g.item(id)
	switch spec.kind {
	case setSelector:
		if it.net.IsValid() {
			f(proto.Member{Net: it.net})
		}
		if it.more != nil {
			for _, n := range *it.more {
				f(proto.Member{Net: n})
			}
		}
		if spec.egress {
			// A network set's allowedEgressDomains, as answered.
			if nd := g.netsetDomains[id]; nd != nil {
				for a := range nd.addrs {
					f(proto.Member{Net: netip.PrefixFrom(a, a.BitLen())})
				}
			}
		}
	case setNamedPort:
		for _, p := range it.namedPorts() {
			if p.name != spec.portName || p.protocol != spec.protocol {
				continue
			}
			for _, n := range it.nets() {
				// Named ports belong to endpoints' own addresses only.
				if n.IsSingleIP() {
					f(proto.Member{Net: n, Protocol: p.protocol, Port: p.port})
				}
			}
		}
	}
}

func (g *Graph) onSetMatchStarted(setID string, id itemID) {
	s := g.ipsets[setID]
	if s == nil || s.dropping {
		return
	}
	g.itemMembers(s.spec, id, s.add)
	if k := g.item(id).kind; s.spec.egress && (k == kindNetworkSet || k == kindGlobalNetworkSet) {
		if g.netsetSets[id] == nil {
			g.netsetSets[id] = map[string]struct{}{}
		}
		g.netsetSets[id][setID] = struct{}{}
	}
}

func (g *Graph) onSetMatchStopped(setID string, id itemID) {
	s := g.ipsets[setID]
	if s == nil || s.dropping {
		return
	}
	g.itemMembers(s.spec, id, s.remove)
	if ss := g.netsetSets[id]; ss != nil {
		delete(ss, setID)
		if len(ss) == 0 {
			delete(g.netsetSets, id)
		}
	}
}

// refSet takes a reference on a set, creating and filling it on first use.
func (g *Graph) refSet(spec *ipSetSpec) {
	s := g.ipsets[spec.id]
	if s != nil {
		s.refs++
		return
	}
	s = &ipSetState{spec: spec, refs: 1, members: map[member]int32{}}
	g.ipsets[spec.id] = s
	switch spec.kind {
	case setSelector, setNamedPort:
		g.setIndex.UpdateSelector(spec.id, spec.sel)
	case setService, setServiceNoPort:
		for _, m := range g.serviceMembers(spec) {
			s.add(m)
		}
	case setDomains:
		g.domainSets[spec.id] = s
	}
}

// unrefSet drops a reference; the last one deletes the set.
func (g *Graph) unrefSet(id string) (deleted bool) {
	s := g.ipsets[id]
	s.refs--
	if s.refs > 0 {
		return false
	}
	s.dropping = true // its members are going anyway: skip the callbacks
	if s.spec.kind == setSelector || s.spec.kind == setNamedPort {
		g.setIndex.DeleteSelector(id)
	}
	delete(g.ipsets, id)
	delete(g.domainSets, id)
	return true
}

// serviceState is the endpoints of one Kubernetes Service, from all of
// its EndpointSlices.
type serviceState struct {
	slices map[string]*discoveryv1.EndpointSlice
}

func (g *Graph) onEndpointSlice(key model.Key, value any) {
	old := g.slices[key]
	var svc string
	if old != nil {
		svc = key.Namespace + "/" + old.Labels[discoveryv1.LabelServiceName]
	}
	if value == nil {
		delete(g.slices, key)
	} else {
		es := value.(*discoveryv1.EndpointSlice)
		g.slices[key] = es
		svc = key.Namespace + "/" + es.Labels[discoveryv1.LabelServiceName]
	}
	if svc == "" {
		return
	}
	st := g.services[svc]
	if st == nil {
		st = &serviceState{slices: map[string]*discoveryv1.EndpointSlice{}}
		g.services[svc] = st
	}
	if value == nil {
		delete(st.slices, key.Name)
		if len(st.slices) == 0 {
			delete(g.services, svc)
		}
	} else {
		st.slices[key.Name] = value.(*discoveryv1.EndpointSlice)
	}
	// Recompute the members of this service's active sets.
	for _, s := range g.ipsets {
		if (s.spec.kind != setService && s.spec.kind != setServiceNoPort) || s.spec.svc != svc {
			continue
		}
		want := map[member]proto.Member{}
		for _, m := range g.serviceMembers(s.spec) {
			want[toMember(m)] = m
		}
		for m := range s.members {
			if _, ok := want[m]; !ok {
				s.remove(m.toProto())
			}
		}
		for m, pm := range want {
			if _, ok := s.members[m]; !ok {
				s.add(pm)
			}
		}
	}
}

// serviceMembers lists a service set's members: every endpoint address
// (ready or not: policy must not flap with readiness), with each port of its
// slice for sets with ports.
func (g *Graph) serviceMembers(spec *ipSetSpec) []proto.Member {
	st := g.services[spec.svc]
	if st == nil {
		return nil
	}
	var out []proto.Member
	names := slices.Sorted(maps.Keys(st.slices))
	for _, n := range names {
		es := st.slices[n]
		for _, ep := range es.Endpoints {
			for _, a := range ep.Addresses {
				addr, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				net := netip.PrefixFrom(addr, addr.BitLen())
				if spec.kind == setServiceNoPort {
					out = append(out, proto.Member{Net: net})
					continue
				}
				for _, p := range es.Ports {
					if p.Port == nil {
						continue
					}
					protocol := uint8(6)
					if p.Protocol != nil {
						protocol = protocolNumber(*p.Protocol)
					}
					out = append(out, proto.Member{Net: net, Protocol: protocol, Port: uint16(*p.Port)})
				}
			}
		}
	}
	return out
}

func protocolNumber(p corev1.Protocol) uint8 {
	switch strings.ToUpper(string(p)) {
	case "UDP":
		return 17
	case "SCTP":
		return 132
	}
	return 6
}

// LearnDomain records that name resolved to addr, as a trusted DNS
// server answered: the address joins every domain set with a name that
// matches, once however often it is answered. It tells whether any set
// matched. Learned addresses stay until ForgetDomain (a node forgets
// them when the answer's TTL runs out); a set made later starts empty
// and learns from the next answer.
func (g *Graph) LearnDomain(name string, addr netip.Addr) bool {
	netsets := g.netsetAnswers(name, addr, true)
	return g.domainMembers(name, addr, func(s *ipSetState, a domainAnswer, m proto.Member) {
		if _, ok := s.learned[a]; ok {
			return
		}
		if s.learned == nil {
			s.learned = map[domainAnswer]struct{}{}
		}
		s.learned[a] = struct{}{}
		s.add(m)
	}) || netsets
}

// ForgetDomain undoes LearnDomain; an answer never learned is ignored.
func (g *Graph) ForgetDomain(name string, addr netip.Addr) {
	g.netsetAnswers(name, addr, false)
	g.domainMembers(name, addr, func(s *ipSetState, a domainAnswer, m proto.Member) {
		if _, ok := s.learned[a]; ok {
			delete(s.learned, a)
			s.remove(m)
		}
	})
}

func (g *Graph) domainMembers(name string, addr netip.Addr, f func(*ipSetState, domainAnswer, proto.Member)) (matched bool) {
	addr = addr.Unmap()
	a := domainAnswer{name: name, addr: addr}
	m := proto.Member{Net: netip.PrefixFrom(addr, addr.BitLen())}
	for _, s := range g.domainSets {
		for _, p := range s.spec.patterns {
			if p.Match(name) {
				f(s, a, m)
				matched = true
				break
			}
		}
	}
	return matched
}

// ServiceAddressSet keeps an IP set of the addresses of a Service's
// endpoints ("<namespace>/<name>") for as long as the graph lives,
// whether or not a rule uses it, and returns its ID: the dataplane gets
// it as any other set. calico-node uses it for the DNS servers it trusts
// (dnsTrustedServers' k8s-service: entries).
func (g *Graph) ServiceAddressSet(namespace, name string) string {
	spec := g.r.serviceSet(namespace, name, false)
	g.refSet(spec)
	return spec.id
}

// netsetDomainState is a network set's allowedEgressDomains: the
// answers it holds, and its addresses from them (counted over names).
// The egress sets it is in are netsetSets'.
type netsetDomainState struct {
	id       itemID
	patterns []domainname.Pattern
	answers  map[domainAnswer]struct{}
	addrs    map[netip.Addr]int
}

// setNetsetDomains records a network set's allowedEgressDomains (none:
// forgets them). Its answers so far are dropped: it learns from the
// next ones, as a new domain set does.
func (g *Graph) setNetsetDomains(id itemID, domains []string) {
	if old := g.netsetDomains[id]; old != nil {
		for a := range old.answers {
			g.netsetForget(old, a)
		}
		delete(g.netsetDomains, id)
	}
	var ps []domainname.Pattern
	for _, d := range domains {
		if p, err := domainname.Parse(d); err == nil {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return
	}
	g.netsetDomains[id] = &netsetDomainState{id: id, patterns: ps, answers: map[domainAnswer]struct{}{}, addrs: map[netip.Addr]int{}}
}

// sameDomains tells whether a network set's domains are as recorded.
func (g *Graph) sameDomains(id itemID, domains []string) bool {
	nd := g.netsetDomains[id]
	var have []string
	if nd != nil {
		for _, p := range nd.patterns {
			have = append(have, p.String())
		}
	}
	var want []string
	for _, d := range domains {
		if p, err := domainname.Parse(d); err == nil {
			want = append(want, p.String())
		}
	}
	return slices.Equal(have, want)
}

// netsetAnswers learns (or forgets) an answer for the network sets whose
// domains match the name; it tells whether any did.
func (g *Graph) netsetAnswers(name string, addr netip.Addr, learn bool) (matched bool) {
	a := domainAnswer{name: name, addr: addr.Unmap()}
	for _, nd := range g.netsetDomains {
		if !slices.ContainsFunc(nd.patterns, func(p domainname.Pattern) bool { return p.Match(name) }) {
			continue
		}
		matched = true
		_, have := nd.answers[a]
		switch {
		case learn && !have:
			nd.answers[a] = struct{}{}
			nd.addrs[a.addr]++
			if nd.addrs[a.addr] == 1 {
				for sid := range g.netsetSets[nd.id] {
					g.ipsets[sid].add(proto.Member{Net: netip.PrefixFrom(a.addr, a.addr.BitLen())})
				}
			}
		case !learn && have:
			g.netsetForget(nd, a)
		}
	}
	return matched
}

func (g *Graph) netsetForget(nd *netsetDomainState, a domainAnswer) {
	delete(nd.answers, a)
	nd.addrs[a.addr]--
	if nd.addrs[a.addr] > 0 {
		return
	}
	delete(nd.addrs, a.addr)
	for sid := range g.netsetSets[nd.id] {
		g.ipsets[sid].remove(proto.Member{Net: netip.PrefixFrom(a.addr, a.addr.BitLen())})
	}
}
