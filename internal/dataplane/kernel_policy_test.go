package dataplane

import (
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/probe"
)

func wepFor(ns, pod, ip string, labels map[string]string) *v3.WorkloadEndpoint {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns, Labels: labels,
			Annotations: map[string]string{v3.AnnotationPodIP: ip + "/32"}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 80}, {Name: "alt", ContainerPort: 81},
		}}}},
	}
	wep, _ := conversion.WorkloadEndpoint(p)
	return wep
}

func (n *testNode) namespace(name string, labels map[string]string) {
	p := conversion.NamespaceProfile(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	n.set(model.Key{Kind: model.KindProfile, Name: p.Name}, p)
	sa := conversion.ServiceAccountProfile(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}})
	n.set(model.Key{Kind: model.KindProfile, Name: sa.Name}, sa)
}

func (n *testNode) tiers(extra ...*v3.Tier) {
	for _, bt := range v3.BuiltinTiers() {
		o := bt.Order
		n.set(model.Key{Kind: "Tier", Name: bt.Name}, &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: bt.Name}, Spec: v3.TierSpec{Order: &o, DefaultAction: bt.DefaultAction}})
	}
	for _, t := range extra {
		n.set(model.Key{Kind: "Tier", Name: t.Name}, t)
	}
}

func (n *testNode) k8sPolicy(np *networkingv1.NetworkPolicy) {
	pol, err := conversion.NetworkPolicy(np)
	if err != nil {
		n.t.Fatal(err)
	}
	n.set(model.Key{Kind: model.KindKubernetesNetworkPolicy, Namespace: np.Namespace, Name: np.Name}, pol)
}

func (n *testNode) gnp(p *v3.GlobalNetworkPolicy) {
	v3.Default(p)
	n.set(model.Key{Kind: "GlobalNetworkPolicy", Name: p.Name}, p)
}

// threeNamespaces sets up x, y, z with pods a and b each.
func threeNamespaces(t *testing.T) *testNode {
	n := newTestNode(t, Config{})
	n.tiers()
	ip := 1
	for _, ns := range []string{"x", "y", "z"} {
		n.namespace(ns, map[string]string{"ns": ns})
		for _, pod := range []string{"a", "b"} {
			n.addPod(ns, pod, "10.65.0."+itoa(ip), map[string]string{"pod": pod})
			ip++
		}
	}
	return n
}

func itoa(i int) string { return strconv.Itoa(i) }

var tcpUDP80 = []probe.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 80}}

func TestKernelAgreesWithOracle(t *testing.T) {
	n := threeNamespaces(t)
	n.sync()
	res := n.probeAll(tcpUDP80)
	if allowed := agree(t, res); allowed != len(res) {
		t.Fatalf("without policy everything should connect (%d of %d):\n%s", allowed, len(res), describe(res))
	}

	// Kubernetes policy: x admits only pods b (any namespace), on port 80.
	port80 := intstr.FromInt32(80)
	n.k8sPolicy(&networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "only-b", Namespace: "x"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pod": "b"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: &port80}},
			}},
		},
	})
	// A tier that denies z outright and passes the rest.
	order := 100.0
	n.tiers(&v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "security"}, Spec: v3.TierSpec{Order: &order, DefaultAction: v3.Pass}})
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "security.no-z"}, Spec: v3.GlobalNetworkPolicySpec{
		Tier: "security", Selector: "all()",
		Ingress: []v3.Rule{{Action: v3.Deny, Source: v3.EntityRule{NamespaceSelector: "ns == 'z'"}}},
		Egress:  []v3.Rule{{Action: v3.Pass}},
	}})
	n.sync()
	res = n.probeAll(tcpUDP80)
	allowed := agree(t, res)
	if allowed == 0 || allowed == len(res) {
		t.Errorf("policies should allow some and deny some (%d of %d connected)", allowed, len(res))
	}

	// Removing the tier's policy and the k8s policy restores everything,
	// incrementally.
	n.set(model.Key{Kind: "GlobalNetworkPolicy", Name: "security.no-z"}, nil)
	n.set(model.Key{Kind: model.KindKubernetesNetworkPolicy, Namespace: "x", Name: "only-b"}, nil)
	n.sync()
	res = n.probeAll(tcpUDP80)
	if allowed := agree(t, res); allowed != len(res) {
		t.Errorf("after removing the policies (%d of %d connected):\n%s", allowed, len(res), describe(res))
	}
}

func (n *testNode) gnpDenyAllX() {
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-x"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "projectcalico.org/namespace == 'x'", Types: []v3.PolicyType{v3.PolicyTypeIngress},
	}})
}

// TestSCTPAndICMP checks the other two protocols against the oracle:
// SCTP (INIT/INIT-ACK through raw sockets) and ICMP echo.
func TestSCTPAndICMP(t *testing.T) {
	n := newTestNode(t, Config{})
	n.tiers()
	n.namespace("x", nil)
	a := n.addPod("x", "a", "10.65.0.1", map[string]string{"pod": "a"})
	b := n.addPod("x", "b", "10.65.0.2", map[string]string{"pod": "b"})
	for _, p := range []*testPod{a, b} {
		srv, err := probe.Serve(p.netns, p.ns+"/"+p.name, []probe.Port{{Protocol: "SCTP", Port: 80}, {Protocol: "SCTP", Port: 81}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
	}
	n.sync()
	probes := []probe.Port{{Protocol: "SCTP", Port: 80}, {Protocol: "SCTP", Port: 81}, {Protocol: "ICMP"}}
	res := n.probeAll(probes)
	if allowed := agree(t, res); allowed != len(res) {
		t.Fatalf("without policy (%d of %d):\n%s", allowed, len(res), describe(res))
	}
	sctp := v3.ProtocolFromString("SCTP")
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "b-sctp-80"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "pod == 'b'",
		Ingress:  []v3.Rule{{Action: v3.Allow, Protocol: &sctp, Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(80)}}}},
	}})
	n.sync()
	res = n.probeAll(probes)
	allowed := agree(t, res)
	if allowed == len(res) || allowed == 0 {
		t.Errorf("with a policy admitting only SCTP 80 to b: %d of %d connected:\n%s", allowed, len(res), describe(res))
	}
}
