package calc

import (
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
	"github.com/calicong/calico/internal/selector"
)

// policy is the graph's view of any of the six policy kinds, with its
// rules rendered when it arrives (the datastore object is not kept).
type policy struct {
	id        proto.PolicyID
	namespace string // "" for global kinds
	tier      string
	order     float64
	hasOrder  bool
	// sel selects the endpoints the policy applies to: the spec selector
	// AND-ed with the namespace (namespaced kinds) or the namespace
	// selector (global kinds) and the service account selector.
	sel              *selector.Selector
	ingress, egress  bool // policy types
	doNotTrack       bool
	preDNAT          bool
	applyOnForward   bool
	stagedAction     string
	neededEverywhere bool
	rendered         *proto.Policy
	sets             []*ipSetSpec // the IP sets the rendered rules use
}

var policyKinds = map[string]bool{
	"NetworkPolicy": true, "GlobalNetworkPolicy": true, model.KindKubernetesNetworkPolicy: true,
	"StagedNetworkPolicy": true, "StagedGlobalNetworkPolicy": true, "StagedKubernetesNetworkPolicy": true,
}

// IsPolicyKind reports whether kind is one of the policy kinds.
func IsPolicyKind(kind string) bool { return policyKinds[kind] }

// newPolicy converts a stream value of a policy kind.
func (r *renderer) newPolicy(key model.Key, value any) (*policy, error) {
	p := &policy{id: proto.PolicyID{Kind: key.Kind, Namespace: key.Namespace, Name: key.Name}, namespace: key.Namespace}
	var (
		sel, nsSel, saSel string
		types             []v3.PolicyType
		order             *float64
		hints             []v3.PolicyPerformanceHint
		ingressRules      []v3.Rule
		egressRules       []v3.Rule
	)
	switch v := value.(type) {
	case *v3.NetworkPolicy: // also KubernetesNetworkPolicy, converted by the syncer
		s := v.Spec
		p.tier, order, sel, saSel, types, hints = s.Tier, s.Order, s.Selector, s.ServiceAccountSelector, s.Types, s.PerformanceHints
		ingressRules, egressRules = s.Ingress, s.Egress
	case *v3.GlobalNetworkPolicy:
		s := v.Spec
		p.tier, order, sel, nsSel, saSel, types, hints = s.Tier, s.Order, s.Selector, s.NamespaceSelector, s.ServiceAccountSelector, s.Types, s.PerformanceHints
		ingressRules, egressRules = s.Ingress, s.Egress
		p.doNotTrack, p.preDNAT, p.applyOnForward = s.DoNotTrack, s.PreDNAT, s.ApplyOnForward
	case *v3.StagedNetworkPolicy:
		s := v.Spec
		p.tier, order, sel, saSel, types, hints = s.Tier, s.Order, s.Selector, s.ServiceAccountSelector, s.Types, s.PerformanceHints
		ingressRules, egressRules = s.Ingress, s.Egress
		p.stagedAction = string(s.StagedAction)
	case *v3.StagedGlobalNetworkPolicy:
		s := v.Spec
		p.tier, order, sel, nsSel, saSel, types, hints = s.Tier, s.Order, s.Selector, s.NamespaceSelector, s.ServiceAccountSelector, s.Types, s.PerformanceHints
		ingressRules, egressRules = s.Ingress, s.Egress
		p.doNotTrack, p.preDNAT, p.applyOnForward = s.DoNotTrack, s.PreDNAT, s.ApplyOnForward
		p.stagedAction = string(s.StagedAction)
	case *v3.StagedKubernetesNetworkPolicy:
		np, err := conversion.NetworkPolicy(&networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: v.Name, Namespace: v.Namespace},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: v.Spec.PodSelector, Ingress: v.Spec.Ingress, Egress: v.Spec.Egress, PolicyTypes: v.Spec.PolicyTypes,
			},
		})
		if np == nil {
			return nil, err
		}
		s := np.Spec
		p.tier, order, sel, types = s.Tier, s.Order, s.Selector, s.Types
		ingressRules, egressRules = s.Ingress, s.Egress
		p.stagedAction = string(v.Spec.StagedAction)
	default:
		return nil, fmt.Errorf("%v: unexpected value %T", key, value)
	}
	if p.id.Staged() && p.stagedAction == "" {
		p.stagedAction = string(v3.StagedActionSet)
	}
	if p.tier == "" {
		p.tier = v3.DefaultTierName
	}
	if order != nil {
		p.order, p.hasOrder = *order, true
	}
	if len(types) == 0 {
		types = v3.DefaultPolicyTypes(ingressRules, egressRules)
	}
	for _, t := range types {
		switch t {
		case v3.PolicyTypeIngress:
			p.ingress = true
		case v3.PolicyTypeEgress:
			p.egress = true
		}
	}
	for _, h := range hints {
		if h == v3.PerfHintAssumeNeededOnEveryNode {
			p.neededEverywhere = true
		}
	}
	var err error
	if p.sel, err = r.endpointSelector(p.namespace, sel, nsSel, saSel); err != nil {
		return nil, fmt.Errorf("%v: %w", p.id, err)
	}
	sets := map[string]*ipSetSpec{}
	in, err := r.renderRules(p.namespace, ingressRules, false, sets)
	if err != nil {
		return nil, fmt.Errorf("%v: ingress %w", p.id, err)
	}
	eg, err := r.renderRules(p.namespace, egressRules, true, sets)
	if err != nil {
		return nil, fmt.Errorf("%v: egress %w", p.id, err)
	}
	p.rendered = &proto.Policy{
		Namespace: p.namespace, Tier: p.tier, InboundRules: in, OutboundRules: eg,
		Untracked: p.doNotTrack, PreDNAT: p.preDNAT, ApplyOnForward: p.applyOnForward,
		Staged: p.id.Staged(), StagedAction: p.stagedAction,
	}
	p.sets = sortedSpecs(sets)
	return p, nil
}

// endpointSelector combines a policy's selectors into one over endpoint
// labels (with the labels endpoints inherit from their namespace and
// service account profiles).
func (r *renderer) endpointSelector(namespace, sel, nsSel, saSel string) (*selector.Selector, error) {
	parts := make([]*selector.Selector, 0, 3)
	s, err := r.parse(sel)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	parts = append(parts, s)
	if namespace != "" {
		parts = append(parts, r.namespaceIs(namespace))
	} else if nsSel != "" {
		ns, err := r.namespaceSelector(nsSel)
		if err != nil {
			return nil, fmt.Errorf("namespaceSelector: %w", err)
		}
		parts = append(parts, ns)
	}
	if saSel != "" {
		sa, err := r.derived("sasel\x00"+saSel, func() (*selector.Selector, error) {
			s, err := selector.Parse(saSel)
			if err != nil {
				return nil, err
			}
			return s.PrefixLabels(v3.ServiceAccountLabelPrefix), nil
		})
		if err != nil {
			return nil, fmt.Errorf("serviceAccountSelector: %w", err)
		}
		parts = append(parts, sa)
	}
	return r.and(parts...), nil
}
