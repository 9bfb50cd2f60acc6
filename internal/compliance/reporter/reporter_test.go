package reporter

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/compliance/cis"
	"github.com/calicong/calico/internal/compliance/report"
	"github.com/calicong/calico/internal/compliance/snapshot"
	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/linseedtest"
	"github.com/calicong/calico/internal/manifests"
)

func raw(items ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(items))
	for i, s := range items {
		out[i] = json.RawMessage(s)
	}
	return out
}

// TestGenerate: from snapshots and audit events in a real Linseed, an
// inventory report counts the endpoints in scope and protected (db's
// policy was deleted half-way: unprotected), a policy-audit report
// counts and lists the changes, and the stored report reads back.
func TestGenerate(t *testing.T) {
	ctx := context.Background()
	ls := linseedtest.New(t)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	snap := func(apiVersion, kind string, items ...string) any {
		return snapshot.Doc{APIVersion: apiVersion, Kind: kind, Items: raw(items...), RequestStartedTimestamp: t0.Add(-10 * time.Minute),
			RequestCompletedTimestamp: t0.Add(-9 * time.Minute)}
	}
	pod := func(name, app, ip string) string {
		return `{"metadata":{"name":"` + name + `","namespace":"demo","labels":{"app":"` + app + `"}},"spec":{"nodeName":"node-1"},"status":{"phase":"Running","podIP":"` + ip + `","podIPs":[{"ip":"` + ip + `"}]}}`
	}
	policy := `{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"db","namespace":"demo"},"spec":{"tier":"default","selector":"app == 'db'","types":["Ingress","Egress"]}}`
	if _, err := ls.Bulk(ctx, "POST", "/compliance/snapshots/bulk", []any{
		snap("v1", "NamespaceList", `{"metadata":{"name":"demo"}}`, `{"metadata":{"name":"other"}}`),
		snap("v1", "PodList", pod("db-0", "db", "10.0.0.1"), pod("web-0", "web", "10.0.0.2"),
			`{"metadata":{"name":"cli","namespace":"other"},"spec":{"nodeName":"node-1"},"status":{"phase":"Running","podIP":"10.0.0.3","podIPs":[{"ip":"10.0.0.3"}]}}`),
		snap("v1", "ServiceList", `{"metadata":{"name":"web","namespace":"demo"},"spec":{"selector":{"app":"web"}}}`),
		snap("projectcalico.org/v3", "NetworkPolicyList", policy),
		snap("projectcalico.org/v3", "GlobalNetworkPolicyList",
			`{"metadata":{"name":"default.web"},"spec":{"tier":"default","selector":"app == 'web'","types":["Ingress","Egress"]}}`),
	}); err != nil {
		t.Fatal(err)
	}
	at := func(m int) string { return t0.Add(time.Duration(m) * time.Minute).Format(time.RFC3339Nano) }
	audit := func(verb string, m int, body string) any {
		ev := map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": verb + at(m), "stage": "ResponseComplete",
			"verb": verb, "user": map[string]any{"username": "alice"}, "requestReceivedTimestamp": at(m), "stageTimestamp": at(m),
			"objectRef":      map[string]any{"resource": "networkpolicies", "namespace": "demo", "name": "db", "apiGroup": "projectcalico.org", "apiVersion": "v3"},
			"responseStatus": map[string]any{"code": 200}}
		if body != "" {
			ev["responseObject"] = json.RawMessage(body)
		}
		return ev
	}
	if _, err := ls.Bulk(ctx, "POST", "/audit/logs/ee/bulk", []any{
		audit("patch", 10, strings.Replace(policy, `"types"`, `"order":5,"types"`, 1)),
		audit("delete", 30, ""),
	}); err != nil {
		t.Fatal(err)
	}
	rep := &v3.GlobalReport{ObjectMeta: metav1.ObjectMeta{Name: "demo-inventory"}, Spec: v3.ReportSpec{ReportType: "inventory",
		Endpoints: &v3.EndpointsSelection{Namespaces: &v3.NamesAndLabelsMatch{Names: []string{"demo"}}}}}
	inventory := &v3.GlobalReportType{ObjectMeta: metav1.ObjectMeta{Name: "inventory"}, Spec: v3.ReportTypeSpec{IncludeEndpointData: true,
		UISummaryTemplate: v3.ReportTemplate{Template: `{"total": {{ .EndpointsSummary.NumTotal }}}`}}}
	r := &Reporter{Linseed: ls, Now: func() time.Time { return t0.Add(2 * time.Hour) }}
	d, err := r.Generate(ctx, rep, inventory, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if s := d.EndpointsSummary; s.NumTotal != 2 || s.NumIngressProtected != 1 || s.NumEgressProtected != 1 {
		t.Errorf("inventory: %+v; want demo's 2 endpoints, only web protected (db's policy went half-way)", s)
	}
	if len(d.Services) != 1 || !d.Services[0].IngressProtected {
		t.Errorf("services: %+v", d.Services)
	}
	// Over the first 20 minutes, db had its policy throughout.
	d2, err := r.Generate(ctx, rep, inventory, t0, t0.Add(20*time.Minute))
	if err != nil || d2.EndpointsSummary.NumIngressProtected != 2 {
		t.Errorf("the first 20 minutes: %+v %v", d2.EndpointsSummary, err)
	}
	stored, err := r.Store(ctx, d)
	if err != nil || stored.UISummary != `{"total": 2}` {
		t.Fatalf("store: %+v %v", stored.UISummary, err)
	}
	var page api.List
	if err := ls.Post(ctx, ReportsPath, api.Params{Selector: `reportName = "demo-inventory"`}, &page); err != nil || len(page.Items) != 1 {
		t.Fatalf("the stored report: %v %v", page.Items, err)
	}
	var back struct {
		ID string `json:"id"`
		report.ReportData
	}
	if err := json.Unmarshal(page.Items[0], &back); err != nil || back.ID != ID("demo-inventory", t0, t0.Add(time.Hour)) || back.EndpointsSummary.NumTotal != 2 {
		t.Errorf("read back: %+v %v", back.ID, err)
	}

	// A policy-audit report: the patch and the delete, by alice.
	audits := &v3.GlobalReportType{ObjectMeta: metav1.ObjectMeta{Name: "policy-audit"}, Spec: v3.ReportTypeSpec{
		AuditEventsSelection: &v3.AuditEventsSelection{Resources: []v3.AuditResource{{Resource: "networkpolicies", APIGroup: "projectcalico.org"}}}}}
	d3, err := r.Generate(ctx, &v3.GlobalReport{ObjectMeta: metav1.ObjectMeta{Name: "audit"}}, audits, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if s := d3.AuditSummary; s.NumTotal != 2 || s.NumModify != 1 || s.NumDelete != 1 || !strings.Contains(string(d3.AuditEvents[0]), "alice") {
		t.Errorf("policy audit: %+v %s", s, d3.AuditEvents)
	}

	// network-access adds what the flow logs say: cli (in another
	// namespace) sent web traffic; db's pods, logged under their prefix,
	// sent web traffic too.
	flow := func(srcNS, src, srcAggr, dstNS, dst, dstAggr string) any {
		return map[string]any{"start_time": t0.Add(5 * time.Minute).Unix(), "end_time": t0.Add(6 * time.Minute).Unix(),
			"source_type": "wep", "source_namespace": srcNS, "source_name": src, "source_name_aggr": srcAggr,
			"dest_type": "wep", "dest_namespace": dstNS, "dest_name": dst, "dest_name_aggr": dstAggr, "action": "allow", "reporter": "dst"}
	}
	if _, err := ls.Bulk(ctx, "POST", "/flows/logs/bulk", []any{
		flow("other", "cli", "cli", "demo", "web-0", "web-*"),
		flow("demo", "-", "db-*", "demo", "-", "web-*"),
	}); err != nil {
		t.Fatal(err)
	}
	access := shippedType(t, "network-access")
	d4, err := r.Generate(ctx, rep, access, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	csv, err := report.Render("endpoints.csv", downloadTemplate(t, access, "endpoints.csv"), d4)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Pod(demo/db-0),false,false,", ",db-*,,Pod(demo/web-*)",
		"Pod(demo/web-0),true,true,", ",web-*,Pod(demo/db-*);Pod(other/cli),",
	} {
		if !strings.Contains(string(csv), want) {
			t.Errorf("network-access endpoints.csv lacks %q:\n%s", want, csv)
		}
	}
	if len(d4.Flows) != 2 {
		t.Errorf("flows: %+v", d4.Flows)
	}

	// cis-benchmark: each node's newest results in the interval.
	bench := func(node string, m int, statuses ...string) any {
		var tests []cis.Test
		for i, st := range statuses {
			tests = append(tests, cis.Test{Section: "1.1", TestNumber: fmt.Sprintf("1.1.%d", i+1), TestDesc: "t", Status: st, Scored: true})
		}
		tests = append(tests, cis.Test{Section: "1.2", TestNumber: "1.2.9", TestDesc: "manual", Status: cis.Info})
		return cis.Result{Version: "1.9", Type: "kube", NodeName: node, KubernetesVersion: "v1.36.0", Timestamp: t0.Add(time.Duration(m) * time.Minute), Tests: tests}
	}
	if _, err := ls.Bulk(ctx, "POST", "/compliance/benchmarks/bulk", []any{
		bench("node-1", 5, cis.Fail, cis.Fail), bench("node-1", 50, cis.Pass, cis.Pass),
		bench("node-2", 50, cis.Pass, cis.Fail), bench("node-3", 70, cis.Pass), // after the interval
	}); err != nil {
		t.Fatal(err)
	}
	d5, err := r.Generate(ctx, &v3.GlobalReport{ObjectMeta: metav1.ObjectMeta{Name: "cis"}}, shippedType(t, "cis-benchmark"), t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := report.Render("node-summary.csv", downloadTemplate(t, shippedType(t, "cis-benchmark"), "node-summary.csv"), d5)
	if err != nil {
		t.Fatal(err)
	}
	if want := "node,version,status,testsPassing,testsFailing,testsUnknown,testsTotal\nnode-1,1.9,HIGH,2,0,0,2\nnode-2,1.9,MED,1,1,0,2\n"; string(nodes) != want {
		t.Errorf("node-summary.csv:\n%s\nwant\n%s", nodes, want)
	}
	if s := d5.CISBenchmarkSummary; s.HighCount != 1 || s.MedCount != 1 || len(s.TopFailedTests) != 1 || s.TopFailedTests[0].TestNumber != "1.1.2" {
		t.Errorf("cis summary: %+v", s)
	}
}

func shippedType(t testing.TB, name string) *v3.GlobalReportType {
	t.Helper()
	for _, o := range manifests.ReportTypes() {
		if rt, ok := o.(*v3.GlobalReportType); ok && rt.Name == name {
			return rt
		}
	}
	t.Fatalf("no shipped report type %s", name)
	return nil
}

func downloadTemplate(t testing.TB, rt *v3.GlobalReportType, file string) string {
	t.Helper()
	for _, d := range rt.Spec.DownloadTemplates {
		if d.Name == file {
			return d.Template
		}
	}
	t.Fatalf("%s has no download %s", rt.Name, file)
	return ""
}
