package reporter

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/compliance/report"
	"github.com/calicong/calico/internal/compliance/snapshot"
	"github.com/calicong/calico/internal/linseed/linseedtest"
)

// benchDay fills a Linseed with a cluster of 5,000 pods in 50
// namespaces and 1,000 policies, snapshotted before the day, and the
// day's audit events: 500 policy changes and 500 pods replaced (each
// a create, its address arriving, and the old one's delete).
func benchDay(b *testing.B, day time.Time) *Reporter {
	ls := linseedtest.New(b)
	ctx := context.Background()
	podJSON := func(ns, name string, app, ip int) string {
		return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"namespace":%q,"labels":{"app":"%d"}},"spec":{"nodeName":"node-1"},"status":{"phase":"Running","podIP":%q,"podIPs":[{"ip":%q}]}}`,
			name, ns, app, ipOf(ip), ipOf(ip))
	}
	policyJSON := func(i, src int) string {
		return fmt.Sprintf(`{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"pol-%d","namespace":"ns-%02d"},"spec":{"tier":"default","selector":"app == '%d'","types":["Ingress"],"ingress":[{"action":"Allow","source":{"selector":"app == '%d'"}}]}}`,
			i, i%50, i%20, src%20)
	}
	at := day.Add(-time.Hour)
	snap := func(apiVersion, kind string, items []json.RawMessage) any {
		return snapshot.Doc{APIVersion: apiVersion, Kind: kind, Items: items, RequestStartedTimestamp: at, RequestCompletedTimestamp: at.Add(time.Second)}
	}
	var nss, pods, pols []json.RawMessage
	for i := range 50 {
		nss = append(nss, json.RawMessage(fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns-%02d"}}`, i)))
	}
	for i := range 5000 {
		pods = append(pods, json.RawMessage(podJSON(fmt.Sprintf("ns-%02d", i%50), fmt.Sprintf("app-%d", i), i%20, i)))
	}
	for i := range 1000 {
		pols = append(pols, json.RawMessage(policyJSON(i, i+1)))
	}
	if _, err := ls.Bulk(ctx, "POST", "/compliance/snapshots/bulk", []any{
		snap("v1", "NamespaceList", nss), snap("v1", "PodList", pods), snap("projectcalico.org/v3", "NetworkPolicyList", pols),
	}); err != nil {
		b.Fatal(err)
	}
	event := func(verb string, t time.Time, resource, ns, name, body string) any {
		ev := map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": fmt.Sprint(verb, t.UnixNano(), name),
			"stage": "ResponseComplete", "verb": verb, "user": map[string]any{"username": "alice"},
			"requestReceivedTimestamp": t.Format(time.RFC3339Nano), "stageTimestamp": t.Format(time.RFC3339Nano),
			"objectRef":      map[string]any{"resource": resource, "namespace": ns, "name": name},
			"responseStatus": map[string]any{"code": 200}}
		if body != "" {
			ev["responseObject"] = json.RawMessage(body)
		}
		return ev
	}
	var ee, kube []any
	for i := range 500 {
		t := day.Add(time.Duration(i) * 24 * time.Hour / 500)
		ev := event("patch", t, "networkpolicies", fmt.Sprintf("ns-%02d", i%50), fmt.Sprintf("pol-%d", i%1000), policyJSON(i%1000, i+2)).(map[string]any)
		ev["objectRef"].(map[string]any)["apiGroup"] = "projectcalico.org"
		ee = append(ee, ev)
		ns, old, repl := fmt.Sprintf("ns-%02d", i%50), fmt.Sprintf("app-%d", i*10), fmt.Sprintf("new-%d", i)
		kube = append(kube,
			event("create", t.Add(time.Second), "pods", ns, repl, fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"namespace":%q,"labels":{"app":"%d"}},"spec":{"nodeName":"node-1"}}`, repl, ns, (i*10)%20)),
			event("patch", t.Add(2*time.Second), "pods", ns, repl, podJSON(ns, repl, (i*10)%20, 6000+i)),
			event("delete", t.Add(3*time.Second), "pods", ns, old, ""))
	}
	if _, err := ls.Bulk(ctx, "POST", "/audit/logs/ee/bulk", ee); err != nil {
		b.Fatal(err)
	}
	if _, err := ls.Bulk(ctx, "POST", "/audit/logs/kube/bulk", kube); err != nil {
		b.Fatal(err)
	}
	return &Reporter{Linseed: ls}
}

func ipOf(i int) string { return fmt.Sprintf("10.%d.%d.%d", 1+i>>16, i>>8&255, i&255) }

// BenchmarkInventoryReportDay: a whole inventory report over a day, as
// a report job makes it: the snapshots and the day's 2,000 audit events
// read from Linseed, replayed over 5,000 endpoints and 1,000 policies,
// stored, and its endpoints.csv rendered (issue 25's target: < 30 s).
func BenchmarkInventoryReportDay(b *testing.B) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := benchDay(b, day)
	ctx := context.Background()
	inventory := shippedType(b, "inventory")
	rep := &v3.GlobalReport{ObjectMeta: metav1.ObjectMeta{Name: "daily"}, Spec: v3.ReportSpec{ReportType: "inventory"}}
	for b.Loop() {
		d, err := r.Generate(ctx, rep, inventory, day, day.Add(24*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		// The 500 replaced pods are in scope too.
		if d.EndpointsSummary.NumTotal != 5500 {
			b.Fatalf("%d endpoints in scope, want 5,500", d.EndpointsSummary.NumTotal)
		}
		if _, err := r.Store(ctx, d); err != nil {
			b.Fatal(err)
		}
		for _, t := range inventory.Spec.DownloadTemplates {
			if _, err := report.Render(t.Name, t.Template, d); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "report-s")
}
