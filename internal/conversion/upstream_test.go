package conversion

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDerivedObjectsAsUpstreamDerivesThem: what upstream Calico's clients
// read from the same Kubernetes objects: a WorkloadEndpoint keeps its
// pod's generateName, a Node carries its Kubernetes labels in
// projectcalico.org/kube-labels.
func TestDerivedObjectsAsUpstreamDerivesThem(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9-x2x", GenerateName: "web-7d4b9-", Namespace: "ns",
		Annotations: map[string]string{"cni.projectcalico.org/podIP": "10.65.0.1/32"}},
		Spec: corev1.PodSpec{NodeName: "n1"}}
	wep, ok := WorkloadEndpoint(pod)
	if !ok || wep.GenerateName != "web-7d4b9-" {
		t.Errorf("workload endpoint generateName %q (%v)", wep.GenerateName, ok)
	}
	n := Node(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a", "kubernetes.io/os": "linux"},
		Annotations: map[string]string{"projectcalico.org/WireguardPublicKey": "k4"}}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24"}}})
	if n.Status.WireguardPublicKey != "k4" || len(n.Status.PodCIDRs) != 1 {
		t.Errorf("node status %+v", n.Status)
	}
	if got := n.Annotations[AnnotationKubeLabels]; got != `{"kubernetes.io/os":"linux","zone":"a"}` {
		t.Errorf("kube-labels annotation %q", got)
	}
	if got := Node(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bare"}}).Annotations[AnnotationKubeLabels]; got != "null" {
		t.Errorf("kube-labels of a node without labels %q, want null as upstream writes it", got)
	}
}
