package proto

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
)

// State is what a dataplane holds after applying messages. It checks the
// ordering contract as it goes: a message that references an IP set,
// policy or profile the state does not have, or removes one still
// referenced, is an error. Tests use it as a reference dataplane.
type State struct {
	IPSets    map[string]map[Member]struct{}
	SetTypes  map[string]IPSetType
	Policies  map[PolicyID]*Policy
	Profiles  map[string]*Profile
	Workloads map[WorkloadEndpointID]*WorkloadEndpoint
	Hosts     map[string]*HostEndpoint
	Routes    map[netip.Prefix]RouteUpdate
	VTEPs     map[string]VTEPUpdate
	Pools     map[string]IPPoolUpdate
	InSync    bool
}

// NewState returns an empty state.
func NewState() *State {
	return &State{
		IPSets:    map[string]map[Member]struct{}{},
		SetTypes:  map[string]IPSetType{},
		Policies:  map[PolicyID]*Policy{},
		Profiles:  map[string]*Profile{},
		Workloads: map[WorkloadEndpointID]*WorkloadEndpoint{},
		Hosts:     map[string]*HostEndpoint{},
		Routes:    map[netip.Prefix]RouteUpdate{},
		VTEPs:     map[string]VTEPUpdate{},
		Pools:     map[string]IPPoolUpdate{},
	}
}

// Apply applies messages in order and returns the first contract violation.
func (s *State) Apply(msgs []Message) error {
	for i, m := range msgs {
		if err := s.apply(m); err != nil {
			return fmt.Errorf("message %d (%T): %w", i, m, err)
		}
	}
	return nil
}

func (s *State) apply(m Message) error {
	switch m := m.(type) {
	case InSync:
		s.InSync = true
	case IPSetUpdate:
		set := make(map[Member]struct{}, len(m.Members))
		for _, mem := range m.Members {
			set[mem] = struct{}{}
		}
		s.IPSets[m.ID] = set
		s.SetTypes[m.ID] = m.Type
	case IPSetDeltaUpdate:
		set, ok := s.IPSets[m.ID]
		if !ok {
			return fmt.Errorf("delta for unknown IP set %s", m.ID)
		}
		for _, mem := range m.Removed {
			if _, ok := set[mem]; !ok {
				return fmt.Errorf("IP set %s: removing absent member %v", m.ID, mem)
			}
			delete(set, mem)
		}
		for _, mem := range m.Added {
			if _, ok := set[mem]; ok {
				return fmt.Errorf("IP set %s: adding present member %v", m.ID, mem)
			}
			set[mem] = struct{}{}
		}
	case IPSetRemove:
		if _, ok := s.IPSets[m.ID]; !ok {
			return fmt.Errorf("removing unknown IP set %s", m.ID)
		}
		for id, p := range s.Policies {
			if slices.Contains(p.setIDs(), m.ID) {
				return fmt.Errorf("removing IP set %s still used by policy %v", m.ID, id)
			}
		}
		for id, p := range s.Profiles {
			if slices.Contains(rulesSetIDs(p.InboundRules, p.OutboundRules), m.ID) {
				return fmt.Errorf("removing IP set %s still used by profile %s", m.ID, id)
			}
		}
		delete(s.IPSets, m.ID)
		delete(s.SetTypes, m.ID)
	case ActivePolicyUpdate:
		for _, id := range m.Policy.setIDs() {
			if _, ok := s.IPSets[id]; !ok {
				return fmt.Errorf("policy %v references unknown IP set %s", m.ID, id)
			}
		}
		s.Policies[m.ID] = m.Policy
	case ActivePolicyRemove:
		if _, ok := s.Policies[m.ID]; !ok {
			return fmt.Errorf("removing unknown policy %v", m.ID)
		}
		for id, ep := range s.Workloads {
			if tiersReference(ep.Tiers, m.ID) {
				return fmt.Errorf("removing policy %v still used by endpoint %v", m.ID, id)
			}
		}
		for id, ep := range s.Hosts {
			if tiersReference(ep.Tiers, m.ID) || tiersReference(ep.ForwardTiers, m.ID) ||
				tiersReference(ep.PreDNATTiers, m.ID) || tiersReference(ep.UntrackedTiers, m.ID) {
				return fmt.Errorf("removing policy %v still used by host endpoint %s", m.ID, id)
			}
		}
		delete(s.Policies, m.ID)
	case ActiveProfileUpdate:
		for _, id := range rulesSetIDs(m.Profile.InboundRules, m.Profile.OutboundRules) {
			if _, ok := s.IPSets[id]; !ok {
				return fmt.Errorf("profile %s references unknown IP set %s", m.ID, id)
			}
		}
		s.Profiles[m.ID] = m.Profile
	case ActiveProfileRemove:
		if _, ok := s.Profiles[m.ID]; !ok {
			return fmt.Errorf("removing unknown profile %s", m.ID)
		}
		for id, ep := range s.Workloads {
			if slices.Contains(ep.ProfileIDs, m.ID) {
				return fmt.Errorf("removing profile %s still used by endpoint %v", m.ID, id)
			}
		}
		delete(s.Profiles, m.ID)
	case WorkloadEndpointUpdate:
		if err := s.checkRefs(m.Endpoint.ProfileIDs, m.Endpoint.Tiers); err != nil {
			return fmt.Errorf("endpoint %v: %w", m.ID, err)
		}
		s.Workloads[m.ID] = m.Endpoint
	case WorkloadEndpointRemove:
		if _, ok := s.Workloads[m.ID]; !ok {
			return fmt.Errorf("removing unknown endpoint %v", m.ID)
		}
		delete(s.Workloads, m.ID)
	case HostEndpointUpdate:
		for _, tiers := range [][]TierInfo{m.Endpoint.Tiers, m.Endpoint.ForwardTiers, m.Endpoint.PreDNATTiers, m.Endpoint.UntrackedTiers} {
			if err := s.checkRefs(m.Endpoint.ProfileIDs, tiers); err != nil {
				return fmt.Errorf("host endpoint %s: %w", m.ID, err)
			}
		}
		s.Hosts[m.ID] = m.Endpoint
	case HostEndpointRemove:
		if _, ok := s.Hosts[m.ID]; !ok {
			return fmt.Errorf("removing unknown host endpoint %s", m.ID)
		}
		delete(s.Hosts, m.ID)
	case RouteUpdate:
		if !m.Dst.IsValid() || m.Dst != m.Dst.Masked() {
			return fmt.Errorf("route to %v: not a network address", m.Dst)
		}
		if m.Type == RouteRemoteVXLAN {
			if _, ok := s.VTEPs[m.Node]; !ok {
				return fmt.Errorf("route to %v references node %s's VTEP, which is unknown", m.Dst, m.Node)
			}
		}
		s.Routes[m.Dst] = m
	case RouteRemove:
		if _, ok := s.Routes[m.Dst]; !ok {
			return fmt.Errorf("removing unknown route %v", m.Dst)
		}
		delete(s.Routes, m.Dst)
	case VTEPUpdate:
		if m.Node == "" || !m.NodeIP.IsValid() || !m.TunnelIP.IsValid() || m.MAC == "" {
			return fmt.Errorf("VTEP of node %q is incomplete: %+v", m.Node, m)
		}
		s.VTEPs[m.Node] = m
	case VTEPRemove:
		if _, ok := s.VTEPs[m.Node]; !ok {
			return fmt.Errorf("removing unknown VTEP of node %s", m.Node)
		}
		for dst, r := range s.Routes {
			if r.Type == RouteRemoteVXLAN && r.Node == m.Node {
				return fmt.Errorf("removing node %s's VTEP while route %v uses it", m.Node, dst)
			}
		}
		delete(s.VTEPs, m.Node)
	case IPPoolUpdate:
		if !m.CIDR.IsValid() || m.CIDR != m.CIDR.Masked() {
			return fmt.Errorf("pool %s: %v is not a network address", m.ID, m.CIDR)
		}
		s.Pools[m.ID] = m
	case IPPoolRemove:
		if _, ok := s.Pools[m.ID]; !ok {
			return fmt.Errorf("removing unknown pool %s", m.ID)
		}
		delete(s.Pools, m.ID)
	default:
		return fmt.Errorf("unknown message")
	}
	return nil
}

func (s *State) checkRefs(profiles []string, tiers []TierInfo) error {
	for _, p := range profiles {
		if _, ok := s.Profiles[p]; !ok {
			return fmt.Errorf("references unknown profile %s", p)
		}
	}
	for _, t := range tiers {
		for _, id := range slices.Concat(t.IngressPolicies, t.EgressPolicies) {
			if _, ok := s.Policies[id]; !ok {
				return fmt.Errorf("references unknown policy %v", id)
			}
		}
	}
	return nil
}

func tiersReference(tiers []TierInfo, id PolicyID) bool {
	for _, t := range tiers {
		if slices.Contains(t.IngressPolicies, id) || slices.Contains(t.EgressPolicies, id) {
			return true
		}
	}
	return false
}

func (p *Policy) setIDs() []string { return rulesSetIDs(p.InboundRules, p.OutboundRules) }

func rulesSetIDs(lists ...[]*Rule) []string {
	var out []string
	for _, rules := range lists {
		for _, r := range rules {
			out = slices.Concat(out, r.Src.SetIDs(), r.Dst.SetIDs())
		}
	}
	return out
}

// SetIDs lists the IP sets a state holds, sorted.
func (s *State) SetIDs() []string { return slices.Sorted(maps.Keys(s.IPSets)) }
