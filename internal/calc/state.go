package calc

import (
	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

// policyHandle numbers policies densely, so that the local endpoints'
// sets of policies and the policy index stay small.
type policyHandle uint32

// policyState is a policy and how this node uses it.
type policyState struct {
	id           proto.PolicyID
	handle       policyHandle
	p            *policy       // nil once deleted (kept while the dataplane still has it)
	localMatches int           // local endpoints the policy selects
	sent         *proto.Policy // the version the dataplane has
	sentSets     []string      // IP sets the sent version references
}

func (g *Graph) policyState(id proto.PolicyID) *policyState {
	st := g.policies[id]
	if st == nil {
		st = &policyState{id: id}
		if n := len(g.freeHdls); n > 0 {
			st.handle = g.freeHdls[n-1]
			g.freeHdls = g.freeHdls[:n-1]
			g.handles[st.handle] = st
		} else {
			st.handle = policyHandle(len(g.handles))
			g.handles = append(g.handles, st)
		}
		g.policies[id] = st
	}
	return st
}

// dropPolicyState forgets a policy that is gone and unused.
func (g *Graph) dropPolicyState(st *policyState) {
	delete(g.policies, st.id)
	g.handles[st.handle] = nil
	g.freeHdls = append(g.freeHdls, st.handle)
}

func (st *policyState) active() bool {
	return st.p != nil && (st.localMatches > 0 || st.p.neededEverywhere)
}

func (g *Graph) onPolicy(key model.Key, value any) {
	id := proto.PolicyID{Kind: key.Kind, Namespace: key.Namespace, Name: key.Name}
	var p *policy
	if value != nil {
		var err error
		if p, err = g.r.newPolicy(key, value); err != nil {
			// Invalid policies are treated as absent, like the syncer does.
			g.log.Warn("ignoring invalid policy", "policy", id.String(), "err", err)
		}
	}
	if p == nil {
		st := g.policies[id]
		if st == nil {
			return
		}
		st.p = nil
		g.polIndex.DeleteSelector(st.handle)
		g.dirtyPolicies[id] = struct{}{}
		return
	}
	st := g.policyState(id)
	old := st.p
	st.p = p
	if old == nil || old.sel.UniqueID() != p.sel.UniqueID() {
		g.polIndex.UpdateSelector(st.handle, p.sel)
	}
	g.dirtyPolicies[id] = struct{}{}
	if old != nil && (old.tier != p.tier || old.order != p.order || old.hasOrder != p.hasOrder ||
		old.ingress != p.ingress || old.egress != p.egress || old.doNotTrack != p.doNotTrack ||
		old.preDNAT != p.preDNAT || old.applyOnForward != p.applyOnForward) {
		// Where the policy sits in its endpoints' tiers changed.
		for item, ep := range g.locals {
			if _, ok := ep.policies[st.handle]; ok {
				g.dirtyEndpoints[item] = struct{}{}
			}
		}
	}
}

func (g *Graph) onTier(name string, value any) {
	if value == nil {
		delete(g.tiers, name)
	} else {
		g.tiers[name] = value.(*v3.Tier)
	}
	// Tier order and default action shape every endpoint's tier list.
	for id := range g.locals {
		g.dirtyEndpoints[id] = struct{}{}
	}
}

// profileState is a profile (from the datastore, or missing) and how many
// local endpoints use it.
type profileState struct {
	exists   bool
	rendered *proto.Profile // deny-all while the profile is missing
	sets     []*ipSetSpec
	refs     int
	sent     *proto.Profile // the version the dataplane has
	sentSets []string
}

func (g *Graph) onProfile(name string, value any) {
	st := g.profiles[name]
	if value == nil {
		g.setIndex.DeleteParentLabels(name)
		g.polIndex.DeleteParentLabels(name)
		if st != nil && name == v3.DefaultAllowProfile {
			st.rendered, st.sets = allowAllProfile, nil
			g.dirtyProfiles[name] = struct{}{}
			return
		}
		if st != nil {
			st.exists, st.rendered, st.sets = false, denyAllProfile, nil
			g.dirtyProfiles[name] = struct{}{}
			if st.refs == 0 && st.sent == nil {
				delete(g.profiles, name)
			}
		}
		return
	}
	p := value.(*v3.Profile)
	g.setIndex.UpdateParentLabels(name, p.Spec.LabelsToApply)
	g.polIndex.UpdateParentLabels(name, p.Spec.LabelsToApply)
	if st == nil {
		st = &profileState{}
		g.profiles[name] = st
	}
	sets := map[string]*ipSetSpec{}
	in, err := g.r.renderRules("", p.Spec.Ingress, false, sets)
	var eg []*proto.Rule
	if err == nil {
		eg, err = g.r.renderRules("", p.Spec.Egress, true, sets)
	}
	if err != nil {
		g.log.Warn("cannot use profile rules; denying instead", "profile", name, "err", err)
		st.exists, st.rendered, st.sets = true, denyAllProfile, nil
	} else {
		st.exists, st.rendered, st.sets = true, &proto.Profile{InboundRules: in, OutboundRules: eg}, sortedSpecs(sets)
	}
	g.dirtyProfiles[name] = struct{}{}
}

func (g *Graph) refProfile(name string) {
	st := g.profiles[name]
	if st == nil {
		// Not (yet) in the datastore: fail closed, except for the built-in
		// allow-all profile, which always exists.
		st = &profileState{rendered: denyAllProfile}
		if name == v3.DefaultAllowProfile {
			st.rendered, st.exists = allowAllProfile, true
		}
		g.profiles[name] = st
	}
	st.refs++
	if st.refs == 1 {
		g.dirtyProfiles[name] = struct{}{}
	}
}

func (g *Graph) unrefProfile(name string) {
	st := g.profiles[name]
	st.refs--
	if st.refs == 0 {
		g.dirtyProfiles[name] = struct{}{}
	}
}
