package conversion

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/selector"
)

func proto(p corev1.Protocol) *corev1.Protocol { return &p }
func port(i int) *intstr.IntOrString           { v := intstr.FromInt32(int32(i)); return &v }
func named(s string) *intstr.IntOrString       { v := intstr.FromString(s); return &v }
func i32(i int32) *int32                       { return &i }

// rulesYAML renders rules compactly so expectations read like manifests.
func rulesYAML(t *testing.T, rules []v3.Rule) string {
	t.Helper()
	data, err := json.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(data)
	if err != nil {
		t.Fatal(err)
	}
	return string(y)
}

func TestNetworkPolicySelectors(t *testing.T) {
	cases := []struct {
		name string
		sel  metav1.LabelSelector
		want string
	}{
		{"empty selects all pods", metav1.LabelSelector{}, "projectcalico.org/orchestrator == 'k8s'"},
		{"match labels sorted", metav1.LabelSelector{MatchLabels: map[string]string{"role": "db", "app": "x"}},
			"projectcalico.org/orchestrator == 'k8s' && app == 'x' && role == 'db'"},
		{"expressions", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "staging"}},
			{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"web"}},
			{Key: "team", Operator: metav1.LabelSelectorOpExists},
			{Key: "legacy", Operator: metav1.LabelSelectorOpDoesNotExist},
		}}, "projectcalico.org/orchestrator == 'k8s' && env in { 'prod', 'staging' } && tier not in { 'web' } && has(team) && ! has(legacy)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: networkingv1.NetworkPolicySpec{PodSelector: c.sel}}
			got, err := NetworkPolicy(np)
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec.Selector != c.want {
				t.Errorf("selector\n got %q\nwant %q", got.Spec.Selector, c.want)
			}
			if _, err := selector.Parse(got.Spec.Selector); err != nil {
				t.Errorf("converted selector does not parse: %v", err)
			}
			if got.Spec.Tier != "default" || *got.Spec.Order != 1000 {
				t.Errorf("tier %q order %v", got.Spec.Tier, *got.Spec.Order)
			}
			if len(got.Spec.Types) != 1 || got.Spec.Types[0] != v3.PolicyTypeIngress {
				t.Errorf("types %v, want [Ingress]", got.Spec.Types)
			}
		})
	}
}

func TestNetworkPolicyRules(t *testing.T) {
	cases := []struct {
		name    string
		ingress []networkingv1.NetworkPolicyIngressRule
		egress  []networkingv1.NetworkPolicyEgressRule
		types   []networkingv1.PolicyType
		want    string // ingress (or egress when egress is set) rules as YAML
	}{
		{
			name:    "allow all ingress",
			ingress: []networkingv1.NetworkPolicyIngressRule{{}},
			want:    "- action: Allow\n",
		},
		{
			name: "pod and namespace selector peer ANDed, port defaults to TCP",
			ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"ns": "x"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: port(80)}},
			}},
			want: `- action: Allow
  destination:
    ports:
    - 80
  protocol: TCP
  source:
    namespaceSelector: ns == 'x'
    selector: projectcalico.org/orchestrator == 'k8s' && app == 'a'
`,
		},
		{
			name: "two peers and two protocols expand to four rules",
			ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{}},
					{NamespaceSelector: &metav1.LabelSelector{}},
				},
				Ports: []networkingv1.NetworkPolicyPort{
					{Protocol: proto(corev1.ProtocolUDP), Port: port(53)},
					{Protocol: proto(corev1.ProtocolTCP), Port: named("dns-tcp")},
					{Protocol: proto(corev1.ProtocolUDP), Port: port(5353)},
				},
			}},
			want: `- action: Allow
  destination:
    ports:
    - 53
    - 5353
  protocol: UDP
  source:
    selector: projectcalico.org/orchestrator == 'k8s'
- action: Allow
  destination:
    ports:
    - dns-tcp
  protocol: TCP
  source:
    selector: projectcalico.org/orchestrator == 'k8s'
- action: Allow
  destination:
    ports:
    - 53
    - 5353
  protocol: UDP
  source:
    namespaceSelector: all()
    selector: projectcalico.org/orchestrator == 'k8s'
- action: Allow
  destination:
    ports:
    - dns-tcp
  protocol: TCP
  source:
    namespaceSelector: all()
    selector: projectcalico.org/orchestrator == 'k8s'
`,
		},
		{
			name: "ipBlock with except, port range, SCTP without port",
			ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}},
				Ports: []networkingv1.NetworkPolicyPort{
					{Port: port(8000), EndPort: i32(8080)},
					{Protocol: proto(corev1.ProtocolSCTP)},
				},
			}},
			want: `- action: Allow
  destination:
    ports:
    - 8000:8080
  protocol: TCP
  source:
    nets:
    - 10.0.0.0/8
    notNets:
    - 10.1.0.0/16
- action: Allow
  protocol: SCTP
  source:
    nets:
    - 10.0.0.0/8
    notNets:
    - 10.1.0.0/16
`,
		},
		{
			name: "a portless entry makes the protocol's ports redundant",
			ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: port(80)}, {Protocol: proto(corev1.ProtocolTCP)}},
			}},
			want: "- action: Allow\n  protocol: TCP\n",
		},
		{
			name: "egress peers go to the destination",
			egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: port(5432)}},
			}},
			types: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			want: `- action: Allow
  destination:
    ports:
    - 5432
    selector: projectcalico.org/orchestrator == 'k8s' && app == 'db'
  protocol: TCP
`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			np := &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
				Spec:       networkingv1.NetworkPolicySpec{Ingress: c.ingress, Egress: c.egress, PolicyTypes: c.types},
			}
			got, err := NetworkPolicy(np)
			if err != nil {
				t.Fatal(err)
			}
			rules := got.Spec.Ingress
			if c.egress != nil {
				rules = got.Spec.Egress
			}
			if y := rulesYAML(t, rules); y != c.want {
				t.Errorf("rules\n got:\n%s\nwant:\n%s", y, c.want)
			}
		})
	}
}

func TestNetworkPolicyTypes(t *testing.T) {
	egress := []networkingv1.NetworkPolicyEgressRule{{}}
	cases := []struct {
		types  []networkingv1.PolicyType
		egress []networkingv1.NetworkPolicyEgressRule
		want   []v3.PolicyType
	}{
		{nil, nil, []v3.PolicyType{v3.PolicyTypeIngress}},
		{nil, egress, []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress}},
		{[]networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, nil, []v3.PolicyType{v3.PolicyTypeEgress}},
	}
	for _, c := range cases {
		got, err := NetworkPolicy(&networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: c.types, Egress: c.egress}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Spec.Types) != len(c.want) {
			t.Errorf("types(%v, %d egress) = %v, want %v", c.types, len(c.egress), got.Spec.Types, c.want)
			continue
		}
		for i := range c.want {
			if got.Spec.Types[i] != c.want[i] {
				t.Errorf("types(%v) = %v, want %v", c.types, got.Spec.Types, c.want)
			}
		}
	}
}

func TestNetworkPolicyBadPeerIsDroppedNotFatal(t *testing.T) {
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{
			{From: []networkingv1.NetworkPolicyPeer{{}}},
			{},
		}},
	}
	got, err := NetworkPolicy(np)
	if err == nil {
		t.Fatal("want an error for the empty peer")
	}
	if got == nil || len(got.Spec.Ingress) != 1 {
		t.Fatalf("want the convertible rule kept, got %+v", got)
	}
}
