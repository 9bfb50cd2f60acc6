package conversion

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v3 "github.com/calicong/calico/api/v3"
)

// orchestratorTerm restricts a converted pod selector to Kubernetes pods, so
// a Kubernetes NetworkPolicy never matches host endpoints or network sets.
const orchestratorTerm = v3.LabelOrchestrator + " == '" + v3.OrchestratorKubernetes + "'"

// NetworkPolicy converts a Kubernetes NetworkPolicy into the Calico policy
// that enforces it: tier "default", order 1000, one Allow rule per peer and
// protocol. Rules that cannot be converted are left out and reported in the
// returned error; the policy is still returned so that what can be enforced
// is (an unconvertible rule only ever allowed traffic, so dropping it fails
// closed).
func NetworkPolicy(np *networkingv1.NetworkPolicy) (*v3.NetworkPolicy, error) {
	sel, err := podSelector(&np.Spec.PodSelector)
	if err != nil {
		return nil, fmt.Errorf("networkpolicy %s/%s: spec.podSelector: %w", np.Namespace, np.Name, err)
	}
	order := v3.KubernetesNetworkPolicyOrder
	out := &v3.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{Kind: "NetworkPolicy", APIVersion: v3.SchemeGroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{
			Name:              np.Name,
			Namespace:         np.Namespace,
			UID:               np.UID,
			ResourceVersion:   np.ResourceVersion,
			CreationTimestamp: np.CreationTimestamp,
			Labels:            np.Labels,
			Annotations:       np.Annotations,
		},
		Spec: v3.NetworkPolicySpec{
			Tier:     v3.DefaultTierName,
			Order:    &order,
			Selector: sel,
			Types:    policyTypes(np),
		},
	}
	var errs []error
	for i, r := range np.Spec.Ingress {
		rules, err := k8sRule(r.From, r.Ports, true)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.ingress[%d]: %w", i, err))
			continue
		}
		out.Spec.Ingress = append(out.Spec.Ingress, rules...)
	}
	for i, r := range np.Spec.Egress {
		rules, err := k8sRule(r.To, r.Ports, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.egress[%d]: %w", i, err))
			continue
		}
		out.Spec.Egress = append(out.Spec.Egress, rules...)
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("networkpolicy %s/%s: %w", np.Namespace, np.Name, err)
	}
	return out, nil
}

// policyTypes follows Kubernetes: explicit policyTypes win; otherwise
// Ingress always, and Egress when there are egress rules.
func policyTypes(np *networkingv1.NetworkPolicy) []v3.PolicyType {
	var types []v3.PolicyType
	if len(np.Spec.PolicyTypes) == 0 {
		types = append(types, v3.PolicyTypeIngress)
		if len(np.Spec.Egress) > 0 {
			types = append(types, v3.PolicyTypeEgress)
		}
		return types
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			types = append(types, v3.PolicyTypeIngress)
		case networkingv1.PolicyTypeEgress:
			types = append(types, v3.PolicyTypeEgress)
		}
	}
	return types
}

// k8sRule expands one Kubernetes rule (peers OR-ed, ports OR-ed) into Calico
// rules: one per peer and protocol, since a Calico rule has one protocol.
func k8sRule(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, ingress bool) ([]v3.Rule, error) {
	groups, err := portsByProtocol(ports)
	if err != nil {
		return nil, err
	}
	var entities []v3.EntityRule
	if len(peers) == 0 {
		entities = []v3.EntityRule{{}}
	}
	for i, peer := range peers {
		e, err := k8sPeer(peer)
		if err != nil {
			return nil, fmt.Errorf("peer %d: %w", i, err)
		}
		entities = append(entities, e)
	}

	var rules []v3.Rule
	for _, e := range entities {
		if len(groups) == 0 {
			rules = append(rules, peerRule(e, nil, nil, ingress))
			continue
		}
		for _, g := range groups {
			proto := g.proto
			rules = append(rules, peerRule(e, &proto, g.ports, ingress))
		}
	}
	return rules, nil
}

// protoPorts is the ports of one protocol; nil ports means every port.
type protoPorts struct {
	proto v3.Protocol
	ports []v3.Port
}

// portsByProtocol groups a Kubernetes rule's ports by protocol, in the order
// protocols first appear. A protocol listed without a port matches all of
// its ports, which makes its port-specific entries redundant.
func portsByProtocol(ports []networkingv1.NetworkPolicyPort) ([]protoPorts, error) {
	var groups []protoPorts
	allPorts := map[string]bool{}
	index := map[string]int{}
	for i, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		cp := v3.ProtocolFromString(string(proto))
		gi, ok := index[cp.String()]
		if !ok {
			gi = len(groups)
			index[cp.String()] = gi
			groups = append(groups, protoPorts{proto: cp})
		}
		switch {
		case p.Port == nil:
			allPorts[cp.String()] = true
		case p.Port.Type == intstr.String:
			groups[gi].ports = append(groups[gi].ports, v3.NamedPort(p.Port.StrVal))
		default:
			lo := p.Port.IntVal
			hi := lo
			if p.EndPort != nil {
				hi = *p.EndPort
			}
			if lo < 1 || hi > 65535 || lo > hi {
				return nil, fmt.Errorf("ports[%d]: port range %d-%d is not within 1-65535", i, lo, hi)
			}
			groups[gi].ports = append(groups[gi].ports, v3.Port{MinPort: uint16(lo), MaxPort: uint16(hi)})
		}
	}
	for i := range groups {
		if allPorts[groups[i].proto.String()] {
			groups[i].ports = nil
		}
	}
	return groups, nil
}

func peerRule(peer v3.EntityRule, proto *v3.Protocol, ports []v3.Port, ingress bool) v3.Rule {
	r := v3.Rule{Action: v3.Allow, Protocol: proto}
	if ingress {
		r.Source = peer
	} else {
		r.Destination = peer
	}
	r.Destination.Ports = ports
	return r
}

// k8sPeer converts one peer: a pod and/or namespace selector, or an ipBlock.
func k8sPeer(p networkingv1.NetworkPolicyPeer) (v3.EntityRule, error) {
	var e v3.EntityRule
	if p.IPBlock != nil {
		e.Nets = []string{p.IPBlock.CIDR}
		e.NotNets = append([]string(nil), p.IPBlock.Except...)
		return e, nil
	}
	if p.PodSelector == nil && p.NamespaceSelector == nil {
		return e, errors.New("peer has neither podSelector, namespaceSelector nor ipBlock")
	}
	if p.PodSelector != nil {
		sel, err := podSelector(p.PodSelector)
		if err != nil {
			return e, fmt.Errorf("podSelector: %w", err)
		}
		e.Selector = sel
	} else {
		e.Selector = orchestratorTerm
	}
	if p.NamespaceSelector != nil {
		sel, err := labelSelector(p.NamespaceSelector)
		if err != nil {
			return e, fmt.Errorf("namespaceSelector: %w", err)
		}
		if sel == "" {
			sel = "all()"
		}
		e.NamespaceSelector = sel
	}
	return e, nil
}

// podSelector converts a pod label selector, restricted to Kubernetes pods.
func podSelector(s *metav1.LabelSelector) (string, error) {
	sel, err := labelSelector(s)
	if err != nil {
		return "", err
	}
	if sel == "" {
		return orchestratorTerm, nil
	}
	return orchestratorTerm + " && " + sel, nil
}

// labelSelector converts a Kubernetes label selector into the Calico
// selector language: matchLabels (keys sorted) then matchExpressions, all
// AND-ed. An empty selector converts to "".
func labelSelector(s *metav1.LabelSelector) (string, error) {
	if s == nil {
		return "", nil
	}
	var terms []string
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		terms = append(terms, fmt.Sprintf("%s == %s", k, quote(s.MatchLabels[k])))
	}
	for i, e := range s.MatchExpressions {
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			terms = append(terms, fmt.Sprintf("%s in { %s }", e.Key, quoteAll(e.Values)))
		case metav1.LabelSelectorOpNotIn:
			terms = append(terms, fmt.Sprintf("%s not in { %s }", e.Key, quoteAll(e.Values)))
		case metav1.LabelSelectorOpExists:
			terms = append(terms, fmt.Sprintf("has(%s)", e.Key))
		case metav1.LabelSelectorOpDoesNotExist:
			terms = append(terms, fmt.Sprintf("! has(%s)", e.Key))
		default:
			return "", fmt.Errorf("matchExpressions[%d]: unknown operator %q", i, e.Operator)
		}
	}
	return strings.Join(terms, " && "), nil
}

func quote(v string) string {
	if strings.Contains(v, "'") {
		return `"` + v + `"`
	}
	return "'" + v + "'"
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = quote(v)
	}
	return strings.Join(q, ", ")
}
