package query

import (
	"context"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab/labtest"
)

// TestLiveCluster runs calicoq against a real API server holding the
// objects, rather than files.
func TestLiveCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	l, err := labtest.Start(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	ctx := context.Background()
	kube := l.Client.Kube
	for _, ns := range []string{"x", "y"} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"ns": ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range []struct{ ns, name, ip string }{{"x", "a", "10.70.0.1"}, {"y", "a", "10.70.0.2"}, {"y", "b", "10.70.0.3"}} {
		_ = i
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Labels: map[string]string{"pod": p.name},
				Annotations: map[string]string{v3.AnnotationPodIP: p.ip + "/32"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		}
		if _, err := labtest.CreatePod(ctx, kube, pod); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kube.NetworkingV1().NetworkPolicies("x").Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "from-b"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{}, PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pod": "b"}},
			}}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc := l.Config.KubeconfigPath()
	out, errOut, code := calicoq(t, "--kubeconfig", kc, "trace", "--from", "y/b", "--to", "x/a", "--port", "80")
	if code != 0 || !strings.Contains(out, "KubernetesNetworkPolicy x/from-b") {
		t.Errorf("y/b → x/a: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = calicoq(t, "--kubeconfig", kc, "trace", "--from", "10.70.0.2", "--to", "10.70.0.1", "--port", "80")
	if code != 1 {
		t.Errorf("y/a → x/a by address: exit %d, want 1 (denied)\n%s%s", code, out, errOut)
	}
	out, _, code = calicoq(t, "--kubeconfig", kc, "eval", `pod == "a"`)
	if code != 0 || strings.Count(out, "Workload endpoint") != 2 {
		t.Errorf("eval: exit %d\n%s", code, out)
	}
	_, errOut, code = calicoq(t, "--kubeconfig", "/nonexistent/kubeconfig", "eval", "all()")
	if code != 2 || !strings.Contains(errOut, "kubeconfig") {
		t.Errorf("bad kubeconfig: exit %d %q", code, errOut)
	}
}
