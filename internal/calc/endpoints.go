package calc

import (
	"maps"
	"net/netip"
	"slices"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

// localEndpoint is an endpoint on this node: the graph resolves its policies.
type localEndpoint struct {
	id       itemID
	kind     itemKind
	wepID    proto.WorkloadEndpointID
	hepID    string
	profiles []string
	policies map[policyHandle]struct{}
	wep      *proto.WorkloadEndpoint // static fields; tiers are filled at flush
	hep      *proto.HostEndpoint
	sent     proto.Message // last update sent, to suppress repeats
}

func (g *Graph) onWorkloadEndpoint(key model.Key, value any) {
	if value == nil {
		g.removeItem(key)
		return
	}
	wep := value.(*v3.WorkloadEndpoint)
	s := &wep.Spec
	nets := parsePrefixes(s.IPNetworks)
	var ports []namedPort
	for _, p := range s.Ports {
		if p.Name == "" {
			continue
		}
		n, _ := p.Protocol.Number()
		ports = append(ports, namedPort{name: p.Name, protocol: n, port: p.Port})
	}
	var local *localEndpoint
	if g.cfg.AllLocal || s.Node == g.cfg.Hostname {
		iface := s.InterfaceName
		if iface == "" {
			iface = conversion.VethName(key.Namespace, s.Pod)
		}
		ep := &proto.WorkloadEndpoint{
			Pod: s.Pod, Node: s.Node, Interface: iface, MAC: s.MAC,
			ProfileIDs:                 slices.Clone(s.Profiles),
			AllowSpoofedSourcePrefixes: parsePrefixes(s.AllowSpoofedSourcePrefixes),
		}
		for _, n := range nets {
			if n.Addr().Is4() {
				ep.IPv4Nets = append(ep.IPv4Nets, n)
			} else {
				ep.IPv6Nets = append(ep.IPv6Nets, n)
			}
		}
		local = &localEndpoint{kind: kindWorkload, wepID: proto.WorkloadEndpointID{Namespace: key.Namespace, Name: key.Name}, profiles: s.Profiles, wep: ep}
	}
	g.upsertItem(key, kindWorkload, wep.Labels, s.Profiles, nets, ports, local)
}

func (g *Graph) onHostEndpoint(key model.Key, value any) {
	if value == nil {
		g.removeItem(key)
		return
	}
	hep := value.(*v3.HostEndpoint)
	s := &hep.Spec
	nets := parsePrefixes(s.ExpectedIPs)
	var ports []namedPort
	for _, p := range s.Ports {
		n, _ := p.Protocol.Number()
		ports = append(ports, namedPort{name: p.Name, protocol: n, port: p.Port})
	}
	var local *localEndpoint
	if g.cfg.AllLocal || s.Node == g.cfg.Hostname {
		ep := &proto.HostEndpoint{Node: s.Node, Interface: s.InterfaceName, ProfileIDs: slices.Clone(s.Profiles)}
		for _, n := range nets {
			ep.ExpectedIPs = append(ep.ExpectedIPs, n.Addr())
		}
		local = &localEndpoint{kind: kindHost, hepID: key.Name, profiles: s.Profiles, hep: ep}
	}
	g.upsertItem(key, kindHost, hep.Labels, s.Profiles, nets, ports, local)
}

// onNetworkSet indexes a network set: its CIDRs join the IP sets of
// selectors that match its labels. A namespaced set carries its namespace
// label and inherits its namespace's labels, like a pod.
func (g *Graph) onNetworkSet(key model.Key, value any) {
	if value == nil {
		if id, ok := g.items.lookup(key); ok {
			g.setNetsetDomains(id, nil)
		}
		g.removeItem(key)
		return
	}
	var (
		labels  map[string]string
		parents []string
		nets    []string
		domains []string
	)
	switch v := value.(type) {
	case *v3.NetworkSet:
		labels = make(map[string]string, len(v.Labels)+1)
		maps.Copy(labels, v.Labels)
		labels[v3.LabelNamespace] = v.Namespace
		parents = []string{conversion.NamespaceProfileName(v.Namespace)}
		nets, domains = v.Spec.Nets, v.Spec.AllowedEgressDomains
	case *v3.GlobalNetworkSet:
		labels, nets, domains = v.Labels, v.Spec.Nets, v.Spec.AllowedEgressDomains
	}
	g.upsertItem(key, itemKindOf(key.Kind), labels, parents, parsePrefixes(nets), nil, nil)
	if id, ok := g.items.lookup(key); ok && !g.sameDomains(id, domains) {
		g.setNetsetDomains(id, domains)
	}
}

// upsertItem adds or replaces an endpoint or network set.
func (g *Graph) upsertItem(key model.Key, kind itemKind, labels map[string]string, parents []string, nets []netip.Prefix, ports []namedPort, local *localEndpoint) {
	id, existed := g.items.lookup(key)
	if !existed {
		id = g.items.insert(key)
	}
	it := g.item(id)
	if existed && (!slices.Equal(it.nets(), nets) || !slices.Equal(it.namedPorts(), ports)) {
		// Set members are the item's addresses and ports: withdraw it under
		// the old ones, then index it again under the new.
		g.setIndex.DeleteLabels(id)
	}
	it.setNets(nets)
	it.setPorts(ports)
	g.setIndex.UpdateLabels(id, labels, parents)

	if local == nil {
		if it.local != nil {
			g.removeLocal(id)
		}
		return
	}
	local.id = id
	old := it.local
	if old != nil {
		local.policies = old.policies
		local.sent = old.sent
	} else {
		local.policies = map[policyHandle]struct{}{}
	}
	it.local = local
	g.locals[id] = local
	for _, p := range local.profiles {
		g.refProfile(p)
	}
	if old != nil {
		for _, p := range old.profiles {
			g.unrefProfile(p)
		}
	}
	g.polIndex.UpdateLabels(id, labels, parents)
	g.dirtyEndpoints[id] = struct{}{}
}

func (g *Graph) removeItem(key model.Key) {
	id, ok := g.items.lookup(key)
	if !ok {
		return
	}
	g.setIndex.DeleteLabels(id)
	if g.item(id).local != nil {
		g.removeLocal(id)
	}
	g.items.remove(id)
}

// removeLocal forgets a local endpoint (deleted, or moved to another node).
func (g *Graph) removeLocal(id itemID) {
	ep := g.item(id).local
	g.polIndex.DeleteLabels(id)
	for _, p := range ep.profiles {
		g.unrefProfile(p)
	}
	if ep.sent != nil {
		switch ep.kind {
		case kindWorkload:
			g.removedWEPs[ep.wepID] = struct{}{}
		case kindHost:
			g.removedHEPs[ep.hepID] = struct{}{}
		}
	}
	delete(g.locals, id)
	delete(g.dirtyEndpoints, id)
	g.item(id).local = nil
}

func (g *Graph) onPolicyMatchStarted(h policyHandle, item itemID) {
	ep := g.item(item).local
	ep.policies[h] = struct{}{}
	g.dirtyEndpoints[item] = struct{}{}
	st := g.handles[h]
	st.localMatches++
	if st.localMatches == 1 {
		g.dirtyPolicies[st.id] = struct{}{}
	}
}

func (g *Graph) onPolicyMatchStopped(h policyHandle, item itemID) {
	if ep := g.item(item).local; ep != nil {
		delete(ep.policies, h)
		g.dirtyEndpoints[item] = struct{}{}
	}
	st := g.handles[h]
	st.localMatches--
	if st.localMatches == 0 {
		g.dirtyPolicies[st.id] = struct{}{}
	}
}

// parsePrefixes parses CIDRs and bare addresses, skipping any that do not
// parse (validation rejects them before they get here).
func parsePrefixes(in []string) []netip.Prefix {
	if len(in) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		if p, err := parseNet(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}
