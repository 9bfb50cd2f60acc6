package query

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

// TestFromObjects: objects read by a caller give the same answers as
// files: pods keep their addresses, namespaces' labels reach namespace
// selectors, and policies apply in tier order.
func TestFromObjects(t *testing.T) {
	order := 100.0
	tier := &v3.Tier{TypeMeta: metav1.TypeMeta{Kind: "Tier", APIVersion: v3.GroupVersionString}, ObjectMeta: metav1.ObjectMeta{Name: "security"},
		Spec: v3.TierSpec{Order: &order}}
	gnp := &v3.GlobalNetworkPolicy{TypeMeta: metav1.TypeMeta{Kind: "GlobalNetworkPolicy", APIVersion: v3.GroupVersionString},
		ObjectMeta: metav1.ObjectMeta{Name: "security.prod-only"},
		Spec:       v3.GlobalNetworkPolicySpec{Tier: "security", NamespaceSelector: "env == 'prod'", Types: []v3.PolicyType{v3.PolicyTypeIngress}}}
	np := &v3.NetworkPolicy{TypeMeta: metav1.TypeMeta{Kind: "NetworkPolicy", APIVersion: v3.GroupVersionString},
		ObjectMeta: metav1.ObjectMeta{Name: "default.db", Namespace: "shop"},
		Spec:       v3.NetworkPolicySpec{Tier: "default", Selector: "app == 'db'", Types: []v3.PolicyType{v3.PolicyTypeIngress}}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"env": "prod"}}}
	pod := func(name, app, ip string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": app}},
			Spec: corev1.PodSpec{NodeName: "node-1"}, Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}}
	}
	snap, err := FromObjects([]any{tier, gnp, np, ns, pod("db-0", "db", "10.0.0.5"), pod("web-0", "web", "10.0.0.6")})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Assigned) != 0 {
		t.Errorf("pods with addresses were given made-up ones: %v", snap.Assigned)
	}
	st, err := FromSnapshot(snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, e := range st.Graph.Endpoints() {
		var names []string
		for _, tr := range e.Tiers {
			for _, p := range tr.IngressPolicies {
				names = append(names, tr.Name+":"+p.Name)
			}
		}
		got[e.Pod] = names
		if e.Pod == "db-0" && (len(e.Nets) != 1 || e.Nets[0].Addr().String() != "10.0.0.5") {
			t.Errorf("db-0's addresses %v", e.Nets)
		}
	}
	if d := got["db-0"]; len(d) != 2 || d[0] != "security:security.prod-only" || d[1] != "default:default.db" {
		t.Errorf("db-0's ingress policies %v, want the security tier's first", d)
	}
	if w := got["web-0"]; len(w) != 1 || w[0] != "security:security.prod-only" {
		t.Errorf("web-0's ingress policies %v", w)
	}
	if _, err := FromObjects([]any{"a string"}); err == nil {
		t.Error("an object the engine does not read was accepted")
	}
}
