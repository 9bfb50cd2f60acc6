package replay

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/compliance/report"
	"github.com/calicong/calico/internal/selector"
)

func pod(ns, name string, labels map[string]string, ip string) *corev1.Pod {
	return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: "node-1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}}
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func np(ns, name string, spec v3.NetworkPolicySpec) *v3.NetworkPolicy {
	p := &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	p.TypeMeta = metav1.TypeMeta{APIVersion: v3.GroupVersionString, Kind: "NetworkPolicy"}
	v3.Default(p)
	return p
}

// TestReplay: over an hour, db loses its policy half-way (unprotected for
// the interval), web is open to everything (the internet and other
// namespaces), and the report's scope keeps to one namespace.
func TestReplay(t *testing.T) {
	from := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	dbPolicy := np("demo", "db", v3.NetworkPolicySpec{Selector: "app == 'db'", Types: []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress},
		Ingress: []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: "app == 'web'"}}},
		Egress:  []v3.Rule{{Action: v3.Allow, Destination: v3.EntityRule{Nets: []string{"10.0.0.0/8"}}}}})
	initial := []any{
		namespace("demo", map[string]string{"env": "prod"}), namespace("other", nil),
		pod("demo", "db-0", map[string]string{"app": "db"}, "10.1.0.1"),
		pod("demo", "web-0", map[string]string{"app": "web"}, "10.1.0.2"),
		pod("other", "cli-0", map[string]string{"app": "cli"}, "10.1.0.3"),
		np("demo", "web", v3.NetworkPolicySpec{Selector: "app == 'web'", Types: []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress: []v3.Rule{{Action: v3.Allow}}}),
		np("demo", "web-out", v3.NetworkPolicySpec{Selector: "app == 'web'", Types: []v3.PolicyType{v3.PolicyTypeEgress},
			Egress: []v3.Rule{{Action: v3.Allow, Destination: v3.EntityRule{Nets: []string{"0.0.0.0/0"}}}}}),
	}
	changes := []Change{
		{Time: from.Add(-time.Minute), Obj: dbPolicy},                    // before: the starting state
		{Time: from.Add(30 * time.Minute), Obj: dbPolicy, Deleted: true}, // half-way
	}
	scope := Scope{NamespaceSelector: selector.MustParse("env == 'prod'")}
	got, err := Run(initial, changes, from, to, scope, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d endpoints in scope, want 2 (demo's): %+v", len(got), got)
	}
	db, web := got[0], got[1]
	if db.Pod != "db-0" || db.IngressProtected || db.EgressProtected || len(db.AppliedPolicies) != 1 || db.IngressFromInternet || db.IngressFromOtherNamespace {
		t.Errorf("db (its policy deleted half-way): %+v", db)
	}
	if web.Pod != "web-0" || !web.IngressProtected || !web.EgressProtected || !web.IngressFromInternet || !web.IngressFromOtherNamespace ||
		!web.EgressToInternet || web.EgressToOtherNamespace || len(web.AppliedPolicies) != 2 {
		t.Errorf("web (open to all, egress to 0.0.0.0/0): %+v", web)
	}

	// Without the deletion db is protected, and reached only from web.
	got, err = Run(initial, changes[:1], from, to, Scope{NamespaceNames: []string{"demo"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if db := got[0]; !db.IngressProtected || !db.EgressProtected || db.IngressFromOtherNamespace || db.EgressToInternet {
		t.Errorf("db with its policy throughout: %+v", db)
	}
	// A change after the interval plays no part.
	late := []Change{changes[0], {Time: to.Add(time.Minute), Obj: dbPolicy, Deleted: true}}
	if got, _ := Run(initial, late, from, to, Scope{NamespaceNames: []string{"demo"}}, nil); !got[0].IngressProtected {
		t.Errorf("a deletion after the interval counted: %+v", got[0])
	}
}

// TestReportData: the replay's endpoints become an inventory report's
// rows, namespaces and services, and its summary counts them exactly.
func TestReportData(t *testing.T) {
	from := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	initial := []any{
		namespace("demo", nil), namespace("shop", nil),
		pod("demo", "db-0", map[string]string{"app": "db"}, "10.1.0.1"),
		pod("demo", "web-0", map[string]string{"app": "web"}, "10.1.0.2"),
		pod("demo", "web-1", map[string]string{"app": "web"}, "10.1.0.3"),
		pod("shop", "cart-0", map[string]string{"app": "cart"}, "10.1.0.4"),
		np("demo", "web", v3.NetworkPolicySpec{Selector: "app == 'web'", Types: []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress: []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{NamespaceSelector: "all()"}}}}),
		np("shop", "all", v3.NetworkPolicySpec{Selector: "all()", Types: []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress}}),
	}
	eps, err := Run(initial, nil, from, from.Add(time.Hour), Scope{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	web := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "web"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
	var d report.ReportData
	AddEndpoints(&d, eps, []*corev1.Service{web})
	if s := d.EndpointsSummary; s.NumTotal != 4 || s.NumIngressProtected != 3 || s.NumEgressProtected != 1 || s.NumIngressFromOtherNamespace != 2 || s.NumServiceAccounts != 2 {
		t.Errorf("endpoints summary %+v", s)
	}
	if s := d.NamespacesSummary; s.NumTotal != 2 || s.NumIngressProtected != 1 || s.NumEgressProtected != 1 {
		t.Errorf("namespaces summary %+v (demo's db has no policy, shop is covered)", s)
	}
	if len(d.Services) != 1 || !d.Services[0].IngressProtected || !d.Services[0].IngressFromOtherNamespace {
		t.Errorf("services %+v", d.Services)
	}
	if e := d.Endpoints[1]; e.Endpoint.String() != "Pod(demo/web-0)" || len(e.Services) != 1 || e.AppliedPolicies[0].String() != "NetworkPolicy(demo/web)" {
		t.Errorf("web-0's row %+v", e)
	}
}

// TestPodLifecycle: a pod is one endpoint from when it has an address,
// as it goes from created (no node, no address) to scheduled to running:
// not an endpoint per node it was seen with, and not one before it is
// networked.
func TestPodLifecycle(t *testing.T) {
	from := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	created := pod("demo", "web", map[string]string{"app": "web"}, "")
	created.Spec.NodeName, created.Status = "", corev1.PodStatus{Phase: corev1.PodPending}
	scheduled := created.DeepCopy()
	scheduled.Spec.NodeName = "node-2"
	running := pod("demo", "web", map[string]string{"app": "web"}, "10.0.0.9")
	running.Spec.NodeName = "node-2"
	policy := np("demo", "web", v3.NetworkPolicySpec{Selector: "app == 'web'", Types: []v3.PolicyType{v3.PolicyTypeIngress}})
	got, err := Run([]any{namespace("demo", nil), policy}, []Change{
		{Time: from.Add(time.Minute), Obj: created},
		{Time: from.Add(2 * time.Minute), Obj: scheduled},
		{Time: from.Add(3 * time.Minute), Obj: running},
	}, from, from.Add(time.Hour), Scope{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Pod != "web" || !got[0].IngressProtected {
		t.Fatalf("endpoints: %+v; want web once, protected", got)
	}
}
