// Package replay computes, for an interval, what policy each endpoint
// had: the configuration at the interval's start (a snapshot, with the
// changes audited since), then each change audited within it, run
// through the policy engine (internal/calc, via internal/query's object
// loader). For every endpoint in scope it says whether it had an ingress
// and an egress policy for *all* the time it existed in the interval,
// which policies applied at any time, and whether at any time a policy
// let it be reached from the internet or other namespaces (or reach
// them). It is pure: objects in, results out.
package replay

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/netclass"
	"github.com/calicong/calico/internal/proto"
	"github.com/calicong/calico/internal/query"
	"github.com/calicong/calico/internal/selector"
)

// Change is one audited change: the object after it, or (Deleted) the
// object that went.
type Change struct {
	Time    time.Time
	Obj     any
	Deleted bool
}

// Scope is the endpoints a report covers: those the selector matches, in
// the namespaces named or selected, with the service accounts named or
// selected (nil parts match everything).
type Scope struct {
	Selector               *selector.Selector
	NamespaceNames         []string
	NamespaceSelector      *selector.Selector
	ServiceAccountNames    []string
	ServiceAccountSelector *selector.Selector
}

// ScopeOf parses a report's endpoints selection.
func ScopeOf(sel *v3.EndpointsSelection) (Scope, error) {
	var s Scope
	if sel == nil {
		return s, nil
	}
	parse := func(text string) (*selector.Selector, error) {
		if text == "" {
			return nil, nil
		}
		return selector.Parse(text)
	}
	var err error
	if s.Selector, err = parse(sel.Selector); err != nil {
		return s, fmt.Errorf("endpoints.selector: %w", err)
	}
	if n := sel.Namespaces; n != nil {
		s.NamespaceNames = n.Names
		if s.NamespaceSelector, err = parse(n.Selector); err != nil {
			return s, fmt.Errorf("endpoints.namespaces.selector: %w", err)
		}
	}
	if a := sel.ServiceAccounts; a != nil {
		s.ServiceAccountNames = a.Names
		if s.ServiceAccountSelector, err = parse(a.Selector); err != nil {
			return s, fmt.Errorf("endpoints.serviceAccounts.selector: %w", err)
		}
	}
	return s, nil
}

// Endpoint is what an endpoint in scope had over the interval.
type Endpoint struct {
	Namespace, Pod, ServiceAccount string
	// Labels are the pod's own, as last seen.
	Labels map[string]string
	// Protected: an ingress (egress) policy applied for all the time the
	// endpoint was in scope.
	IngressProtected, EgressProtected bool
	// At any time, an allow rule of an applied policy let it be reached
	// from (reach) the internet or other namespaces.
	IngressFromInternet, EgressToInternet             bool
	IngressFromOtherNamespace, EgressToOtherNamespace bool
	// AppliedPolicies applied at some time.
	AppliedPolicies []proto.PolicyID
}

// Run replays the interval [from, to): initial objects (a snapshot) and
// the changes (any order; those before from set the starting state,
// those at or after to are ignored).
func Run(initial []any, changes []Change, from, to time.Time, scope Scope, log *slog.Logger) ([]Endpoint, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := newState(initial)
	changes = slices.Clone(changes)
	slices.SortStableFunc(changes, func(a, b Change) int { return a.Time.Compare(b.Time) })
	i := 0
	for ; i < len(changes) && changes[i].Time.Before(from); i++ {
		st.apply(changes[i])
	}
	acc := map[string]*Endpoint{}
	for {
		// The state holds until the next change (or the interval's end).
		if err := st.observe(scope, acc, log); err != nil {
			return nil, err
		}
		if i >= len(changes) || !changes[i].Time.Before(to) {
			break
		}
		// Changes at the same moment are one step.
		t := changes[i].Time
		for ; i < len(changes) && changes[i].Time.Equal(t); i++ {
			st.apply(changes[i])
		}
	}
	out := make([]Endpoint, 0, len(acc))
	for _, e := range acc {
		slices.SortFunc(e.AppliedPolicies, func(a, b proto.PolicyID) int { return cmp.Compare(a.String(), b.String()) })
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Pod, b.Pod))
	})
	return out, nil
}

// state is the objects at one moment, by kind, namespace and name, and
// the policy engine's graph of them (updated by what changed in the
// model between observations, not rebuilt).
type state struct {
	objs map[string]any
	g    *calc.Graph
	// seen is what the graph has of each object: the object (pointer)
	// it was converted from and its model entries.
	seen map[string]converted
	// rc judges policies' reachability; it holds while policies and
	// network sets do not change.
	rc *reacher
}

type converted struct {
	obj any
	kvs []model.KVPair
}

func newState(initial []any) *state {
	s := &state{objs: map[string]any{}, seen: map[string]converted{}}
	for _, o := range initial {
		if k, ok := keyOf(o); ok {
			s.objs[k] = o
		}
	}
	return s
}

func (s *state) apply(c Change) {
	k, ok := keyOf(c.Obj)
	if !ok {
		return
	}
	if c.Deleted {
		delete(s.objs, k)
	} else {
		s.objs[k] = c.Obj
	}
}

// modelOf converts one object to the policy engine's entries, as the
// cluster's datastore would hold them: a pod with an address is a
// workload endpoint, a namespace or service account a profile, a
// Kubernetes NetworkPolicy its Calico form.
func modelOf(o any) ([]model.KVPair, error) {
	switch x := o.(type) {
	case *corev1.Pod:
		if x.Spec.HostNetwork || x.Status.Phase == corev1.PodSucceeded || x.Status.Phase == corev1.PodFailed {
			return nil, nil
		}
		if x.Status.PodIP == "" && len(x.Status.PodIPs) == 0 {
			return nil, nil // no address yet: not networked, not an endpoint
		}
		if x.Spec.NodeName == "" {
			x = x.DeepCopy()
			x.Spec.NodeName = query.OfflineNode
		}
		wep, ok := conversion.WorkloadEndpoint(x)
		if !ok {
			return nil, nil // no address yet: no endpoint
		}
		return []model.KVPair{{Key: model.Key{Kind: model.KindWorkloadEndpoint, Namespace: wep.Namespace, Name: wep.Name}, Value: wep}}, nil
	case *corev1.Namespace:
		ns := x.DeepCopy()
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels["kubernetes.io/metadata.name"] = ns.Name // as the API server does
		p := conversion.NamespaceProfile(ns)
		return []model.KVPair{{Key: model.Key{Kind: model.KindProfile, Name: p.Name}, Value: p}}, nil
	case *corev1.ServiceAccount:
		p := conversion.ServiceAccountProfile(x)
		return []model.KVPair{{Key: model.Key{Kind: model.KindProfile, Name: p.Name}, Value: p}}, nil
	case *corev1.Service:
		return nil, nil // reports group endpoints by them; policy does not read them
	case *networkingv1.NetworkPolicy:
		pol, err := conversion.NetworkPolicy(x)
		if err != nil {
			return nil, fmt.Errorf("NetworkPolicy %s/%s: %w", x.Namespace, x.Name, err)
		}
		return []model.KVPair{{Key: model.Key{Kind: model.KindKubernetesNetworkPolicy, Namespace: x.Namespace, Name: x.Name}, Value: pol}}, nil
	case v3.Object:
		kind, ok := v3.KindFor(x.GetObjectKind().GroupVersionKind().Kind)
		if !ok {
			return nil, fmt.Errorf("%T %s: not a projectcalico.org/v3 kind", o, x.GetName())
		}
		return []model.KVPair{{Key: model.Key{Kind: kind.Kind, Namespace: x.GetNamespace(), Name: x.GetName()}, Value: x}}, nil
	}
	return nil, nil
}

// keyOf names an object the policy engine reads.
func keyOf(o any) (string, bool) {
	switch x := o.(type) {
	case *corev1.Pod:
		return "Pod/" + x.Namespace + "/" + x.Name, true
	case *corev1.Namespace:
		return "Namespace//" + x.Name, true
	case *corev1.ServiceAccount:
		return "ServiceAccount/" + x.Namespace + "/" + x.Name, true
	case *corev1.Service:
		return "Service/" + x.Namespace + "/" + x.Name, true
	case *networkingv1.NetworkPolicy:
		return "k8s-NetworkPolicy/" + x.Namespace + "/" + x.Name, true
	case v3.Object:
		return x.GetObjectKind().GroupVersionKind().Kind + "/" + x.GetNamespace() + "/" + x.GetName(), true
	}
	return "", false
}

// observe runs the state through the policy engine and folds what each
// endpoint in scope had into acc.
func (s *state) observe(scope Scope, acc map[string]*Endpoint, log *slog.Logger) error {
	nsLabels := map[string]map[string]string{}
	saLabels := map[string]map[string]string{}
	for _, o := range s.objs {
		switch x := o.(type) {
		case *corev1.Namespace:
			nsLabels[x.Name] = x.Labels
		case *corev1.ServiceAccount:
			saLabels[x.Namespace+"/"+x.Name] = x.Labels
		}
	}
	if s.g == nil {
		g, err := query.NewGraph(log)
		if err != nil {
			return err
		}
		s.g = g
		var tiers []model.Update
		for _, t := range v3.BuiltinTiers() {
			order := t.Order
			tiers = append(tiers, model.Update{KVPair: model.KVPair{Key: model.Key{Kind: "Tier", Name: t.Name},
				Value: &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: t.Name}, Spec: v3.TierSpec{Order: &order, DefaultAction: t.DefaultAction}}}})
		}
		s.g.OnUpdates(tiers)
	}
	// Only what changed since the last observation is converted and sent:
	// an object's new entries, and removals of the entries it no longer has.
	var ups []model.Update
	for k, o := range s.objs {
		prev, ok := s.seen[k]
		if ok && prev.obj == o {
			continue
		}
		kvs, err := modelOf(o)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			ups = append(ups, model.Update{KVPair: kv})
		}
		for _, old := range prev.kvs {
			if !slices.ContainsFunc(kvs, func(kv model.KVPair) bool { return kv.Key == old.Key }) {
				ups = append(ups, model.Update{KVPair: model.KVPair{Key: old.Key}})
			}
		}
		s.seen[k] = converted{obj: o, kvs: kvs}
	}
	for k, prev := range s.seen {
		if _, ok := s.objs[k]; !ok {
			for _, old := range prev.kvs {
				ups = append(ups, model.Update{KVPair: model.KVPair{Key: old.Key}})
			}
			delete(s.seen, k)
		}
	}
	// What changed decides what must be looked at again: nothing, when
	// nothing did (the state's observation would repeat the last); only
	// the endpoints added or changed, when only endpoints did (the others'
	// policies are as they were); else every endpoint.
	var touched []model.Key
	onlyEndpoints, setsChanged := true, s.rc == nil
	for _, u := range ups {
		switch u.Key.Kind {
		case model.KindWorkloadEndpoint:
			if u.Value != nil {
				touched = append(touched, u.Key)
			}
		case "NetworkSet", "GlobalNetworkSet", "HostEndpoint":
			onlyEndpoints, setsChanged = false, true
		default:
			onlyEndpoints = false
		}
	}
	if s.rc != nil && len(ups) == 0 {
		return nil
	}
	query.Update(s.g, ups)
	g := s.g
	if setsChanged {
		s.rc = newReacher(g)
	} else if !onlyEndpoints {
		s.rc = s.rc.again()
	}
	rc := s.rc
	eps := func(yield func(calc.Endpoint) bool) {
		if onlyEndpoints && !setsChanged {
			for _, k := range touched {
				if ep, ok := g.Endpoint(k); ok && !yield(ep) {
					return
				}
			}
			return
		}
		for _, ep := range g.Endpoints() {
			if !yield(ep) {
				return
			}
		}
	}
	for ep := range eps {
		if ep.Key.Kind != model.KindWorkloadEndpoint {
			continue
		}
		sa := ep.Labels[v3.LabelServiceAccount]
		if !scope.matches(ep.Key.Namespace, sa, ep.Labels, nsLabels, saLabels) {
			continue
		}
		// An endpoint is its pod, whichever node it is on.
		pod := ep.Pod
		if pod == "" {
			pod = ep.Key.Name
		}
		id := ep.Key.Namespace + "/" + pod
		e := acc[id]
		if e == nil {
			e = &Endpoint{Namespace: ep.Key.Namespace, Pod: pod, ServiceAccount: sa, IngressProtected: true, EgressProtected: true}
			acc[id] = e
		}
		var ingress, egress bool
		for _, tier := range ep.Tiers {
			ingress = ingress || len(tier.IngressPolicies) > 0
			egress = egress || len(tier.EgressPolicies) > 0
			for _, pid := range append(slices.Clone(tier.IngressPolicies), tier.EgressPolicies...) {
				if !slices.Contains(e.AppliedPolicies, pid) {
					e.AppliedPolicies = append(e.AppliedPolicies, pid)
				}
			}
			for _, pid := range tier.IngressPolicies {
				r := rc.reach(pid, true)
				e.IngressFromInternet = e.IngressFromInternet || r.internet
				e.IngressFromOtherNamespace = e.IngressFromOtherNamespace || r.other
			}
			for _, pid := range tier.EgressPolicies {
				r := rc.reach(pid, false)
				e.EgressToInternet = e.EgressToInternet || r.internet
				e.EgressToOtherNamespace = e.EgressToOtherNamespace || r.other
			}
		}
		e.Labels = podLabels(ep.Labels)
		e.IngressProtected = e.IngressProtected && ingress
		e.EgressProtected = e.EgressProtected && egress
	}
	return nil
}

// podLabels drops the labels Calico adds to an endpoint (its namespace,
// service account and orchestrator, and those inherited from profiles).
func podLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		if strings.HasPrefix(k, "projectcalico.org/") || strings.HasPrefix(k, "pcns.") || strings.HasPrefix(k, "pcsa.") {
			continue
		}
		out[k] = v
	}
	return out
}

func (s Scope) matches(ns, sa string, labels map[string]string, nsLabels, saLabels map[string]map[string]string) bool {
	if s.Selector != nil && !s.Selector.Evaluate(selector.Map(labels)) {
		return false
	}
	if len(s.NamespaceNames) > 0 && !slices.Contains(s.NamespaceNames, ns) {
		return false
	}
	if s.NamespaceSelector != nil && !s.NamespaceSelector.Evaluate(selector.Map(nsLabels[ns])) {
		return false
	}
	if len(s.ServiceAccountNames) > 0 && !slices.Contains(s.ServiceAccountNames, sa) {
		return false
	}
	if s.ServiceAccountSelector != nil && !s.ServiceAccountSelector.Evaluate(selector.Map(saLabels[ns+"/"+sa])) {
		return false
	}
	return true
}

// reachability is what a policy's allow rules in one direction let in
// (or out), as Calico Enterprise's reports judge it from the rules:
//   - the internet: a rule's peer is anything (no addresses, no
//     selector), a network with public addresses, or a selector that
//     matches a network set holding one;
//   - other namespaces: a rule's peer is anything, it has an explicit
//     namespaceSelector, or it is a global policy's selector (which
//     matches endpoints in every namespace).
type reachability struct{ internet, other bool }

// reacher works reachability out once per policy and direction, for one
// state of the graph.
type reacher struct {
	g *calc.Graph
	// publicSets are the labels of the network sets (and host endpoints)
	// that hold public addresses.
	publicSets []selector.Map
	memo       map[reachKey]reachability
}

type reachKey struct {
	pid     proto.PolicyID
	inbound bool
}

// again is the reacher for changed policies: the same network sets,
// every policy judged afresh.
func (r *reacher) again() *reacher {
	return &reacher{g: r.g, publicSets: r.publicSets, memo: map[reachKey]reachability{}}
}

func newReacher(g *calc.Graph) *reacher {
	r := &reacher{g: g, memo: map[reachKey]reachability{}}
	for _, it := range g.Items() {
		if it.Key.Kind == model.KindWorkloadEndpoint {
			continue
		}
		for _, n := range it.Nets {
			if netclass.HasPublic(n) {
				r.publicSets = append(r.publicSets, selector.Map(it.Labels))
				break
			}
		}
	}
	return r
}

func (r *reacher) reach(pid proto.PolicyID, inbound bool) reachability {
	k := reachKey{pid, inbound}
	if v, ok := r.memo[k]; ok {
		return v
	}
	var out reachability
	if pol := r.g.Rendered(pid); pol != nil {
		rules := pol.OutboundRules
		if inbound {
			rules = pol.InboundRules
		}
		for _, rule := range rules {
			if rule.Action != "Allow" {
				continue
			}
			side := rule.Dst
			nsSel := ""
			if rule.Source != nil {
				nsSel = rule.Source.DstNamespaceSelector
			}
			if inbound {
				side = rule.Src
				if rule.Source != nil {
					nsSel = rule.Source.SrcNamespaceSelector
				}
			}
			if side == nil || (len(side.Nets) == 0 && len(side.IPSetIDs) == 0 && len(side.ServiceIPSetIDs) == 0) {
				out = reachability{true, true} // anything
				break
			}
			if len(side.IPSetIDs) > 0 && (nsSel != "" || pid.Namespace == "") {
				out.other = true
			}
			if len(side.IPSetIDs) == 0 {
				for _, n := range side.Nets {
					out.internet = out.internet || netclass.HasPublic(n)
				}
			} else if sel := r.g.SideSelector(pid, side); sel != nil {
				for _, l := range r.publicSets {
					if sel.Evaluate(l) {
						out.internet = true
						break
					}
				}
			}
		}
	}
	r.memo[k] = out
	return out
}
