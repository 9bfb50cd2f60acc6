package manager

import (
	"context"
	"encoding/json"
	"github.com/calicong/calico/internal/httpjson"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/client"
)

// fakeChecker knows tokens by value; grants are "user/resource/name".
type fakeChecker struct {
	users  map[string]string
	grants map[string]bool
}

func (f *fakeChecker) Authenticate(_ context.Context, tok string) (kubeauth.User, error) {
	u, ok := f.users[tok]
	if !ok {
		return kubeauth.User{}, kubeauth.ErrInvalidToken
	}
	return kubeauth.User{Name: u, Groups: []string{"system:authenticated"}}, nil
}

func (f *fakeChecker) Authorize(_ context.Context, u kubeauth.User, a kubeauth.Access) (bool, error) {
	if a.Group == api.APIGroup {
		return f.grants[u.Name+"/linseed/"+a.Resource+"/"+a.Verb], nil
	}
	return a.Group == LMAGroup && a.Verb == "get" && f.grants[u.Name+"/"+a.Resource+"/"+a.Name], nil
}

// fakeLogs records what the manager asked Linseed (the dashboard asks
// concurrently) and answers canned data.
type fakeLogs struct {
	mu     sync.Mutex
	paths  []string
	bodies []map[string]any
	answer map[string]string
	err    error
}

func (f *fakeLogs) Post(_ context.Context, path string, body any, out any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths = append(f.paths, path)
	b, _ := json.Marshal(body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	f.bodies = append(f.bodies, m)
	if f.err != nil {
		return f.err
	}
	return json.Unmarshal([]byte(f.answer[path]), out)
}

func (f *fakeLogs) Bulk(_ context.Context, method, path string, recs []any) (api.BulkResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths = append(f.paths, method+" "+path)
	b, _ := json.Marshal(map[string]any{"records": recs})
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	f.bodies = append(f.bodies, m)
	return api.BulkResponse{Total: len(recs), Succeeded: len(recs)}, f.err
}

func newTest(t *testing.T, prom *url.URL) (http.Handler, *fakeLogs) {
	t.Helper()
	logs := &fakeLogs{answer: map[string]string{
		"/flows/logs": `{"items":[{"action":"deny"}],"after_key":{"k":1},"total_hits":7}`,
		"/dns/logs":   `{"items":[{"qname":"api.example.test","rcode":"NOERROR"}],"total_hits":1}`,
		"/events":     `{"items":[{"id":"e1","type":"gtf_suspicious_flow","severity":100}],"total_hits":1}`,
		"/flows": `{"items":[
			{"key":{"action":"allow","reporter":"src","protocol":"tcp","source":{"type":"wep","namespace":"demo","aggregated_name":"frontend-*"},"destination":{"type":"wep","namespace":"demo","aggregated_name":"database-*","port":5432}},"log_stats":{"flow_log_count":2},"traffic_stats":{"bytes_in":10,"bytes_out":20}},
			{"key":{"action":"deny","reporter":"dst","protocol":"tcp","source":{"type":"wep","namespace":"demo","aggregated_name":"frontend-*"},"destination":{"type":"wep","namespace":"demo","aggregated_name":"database-*","port":5432}},"log_stats":{"flow_log_count":2},"traffic_stats":{"bytes_in":10,"bytes_out":0}}]}`,
	}}
	checker := &fakeChecker{users: map[string]string{"admin-token": "admin", "viewer-token": "viewer"},
		grants: map[string]bool{"admin/cluster/flows": true, "admin/cluster/audit_ee": true, "admin/cluster/dns": true,
			"admin/cluster/events": true, "admin/linseed/events/dismiss": true, "viewer/cluster/events": true}}
	assets := fstest.MapFS{"index.html": {Data: []byte("<html>console</html>")}, "assets/app-1234.js": {Data: []byte("js")}}
	h, err := New(Config{Checker: checker, Logs: logs, Prometheus: prom, Assets: assets})
	if err != nil {
		t.Fatal(err)
	}
	return h, logs
}

func do(h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestAuthorisation: every API route needs a valid token (401), and the
// flow routes the flows log type (403 that says what is missing); a
// refused request never reaches Linseed.
func TestAuthorisation(t *testing.T) {
	h, logs := newTest(t, nil)
	for _, route := range []struct{ method, path string }{{"GET", "/api/whoami"}, {"POST", "/api/flows/logs"}, {"POST", "/api/flows/graph"}} {
		if w := do(h, route.method, route.path, "", "{}"); w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s without a token: %d %s", route.method, route.path, w.Code, w.Body)
		}
		if w := do(h, route.method, route.path, "forged", "{}"); w.Code != 401 || !strings.Contains(w.Body.String(), "does not accept") {
			t.Errorf("%s %s with a forged token: %d %s", route.method, route.path, w.Code, w.Body)
		}
	}
	for _, path := range []string{"/api/flows/logs", "/api/flows/graph"} {
		w := do(h, "POST", path, "viewer-token", "{}")
		if w.Code != 403 || !strings.Contains(w.Body.String(), `viewer may not read flows logs`) || !strings.Contains(w.Body.String(), "lma.tigera.io") {
			t.Errorf("%s without flow access: %d %s", path, w.Code, w.Body)
		}
	}
	if len(logs.paths) != 0 {
		t.Errorf("refused requests reached Linseed: %v", logs.paths)
	}
	w := do(h, "GET", "/api/whoami", "viewer-token", "")
	var me Whoami
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &me) != nil || me.User != "viewer" || me.Logs["flows"] {
		t.Errorf("whoami as viewer: %d %s", w.Code, w.Body)
	}
	w = do(h, "GET", "/api/whoami", "admin-token", "")
	if json.Unmarshal(w.Body.Bytes(), &me) != nil || !me.Logs["flows"] || !me.Logs["audit_ee"] || me.Logs["audit_kube"] {
		t.Errorf("whoami as admin: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/api/nothing", "admin-token", ""); w.Code != 404 || !strings.Contains(w.Body.String(), "no API") {
		t.Errorf("unknown API: %d %s", w.Code, w.Body)
	}
}

// TestFlowQueryValidation: a bad filter is a 400 naming the field, and
// never reaches Linseed; a good one becomes Linseed's parameters.
func TestFlowQueryValidation(t *testing.T) {
	h, logs := newTest(t, nil)
	for body, want := range map[string]string{
		`{"action":"drop"}`:    `action "drop": allow or deny`,
		`{"reporter":"both"}`:  `reporter "both"`,
		`{"port":70000}`:       "port 70000",
		`{"namespace":"a b"}`:  `namespace "a b"`,
		`{"name":"x\"; DROP"}`: `name "x\"; DROP"`,
		`{"page_size":5000}`:   "page_size 5000: at most 1000",
		`{"sort":"password"}`:  `sort "password"`,
		`{"nmespace":"demo"}`:  `unknown field "nmespace"`,
		`{"from":"2026-01-02T00:00:00Z","to":"2026-01-01T00:00:00Z"}`: "must be before",
		`{"from":"2025-01-01T00:00:00Z","to":"2026-01-01T00:00:00Z"}`: "at most",
		`not json`: "not valid JSON",
	} {
		w := do(h, "POST", "/api/flows/logs", "admin-token", body)
		var e httpjson.ErrorBody
		if w.Code != 400 || json.Unmarshal(w.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, want) {
			t.Errorf("%s: %d %s, want 400 with %q", body, w.Code, w.Body, want)
		}
	}
	if len(logs.paths) != 0 {
		t.Fatalf("invalid queries reached Linseed: %v", logs.paths)
	}
	w := do(h, "POST", "/api/flows/logs", "admin-token",
		`{"namespace":"demo","name":"frontend-*","action":"deny","policy":"default.allow-cli","port":5432,"reporter":"dst","page_size":10}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"total_hits":7`) {
		t.Fatalf("a valid query: %d %s", w.Code, w.Body)
	}
	p := logs.bodies[0]
	sel, _ := p["selector"].(string)
	for _, want := range []string{`(source_namespace = "demo" OR dest_namespace = "demo")`,
		`(source_name_aggr IN {"frontend-*"} OR dest_name_aggr IN {"frontend-*"})`, "reporter = dst", "dest_port = 5432"} {
		if !strings.Contains(sel, want) {
			t.Errorf("selector %q lacks %q", sel, want)
		}
	}
	if acts, _ := json.Marshal(p["actions"]); string(acts) != `["deny"]` {
		t.Errorf("actions %s", acts)
	}
	if pm, _ := json.Marshal(p["policy_matches"]); string(pm) != `[{"name":"allow-cli"}]` {
		t.Errorf("policy_matches %s", pm)
	}
	if p["max_page_size"] != 10.0 || p["time_range"] == nil {
		t.Errorf("paging and time range: %v", p)
	}
}

func TestGraph(t *testing.T) {
	h, logs := newTest(t, nil)
	w := do(h, "POST", "/api/flows/graph", "admin-token", `{"focus":"demo"}`)
	if w.Code != 200 {
		t.Fatalf("graph: %d %s", w.Code, w.Body)
	}
	if logs.paths[0] != "/flows" {
		t.Errorf("the graph read %s, want Linseed's aggregated /flows", logs.paths[0])
	}
	var g struct {
		Nodes []struct{ ID string }
		Edges []struct {
			Source, Target  string
			Allowed, Denied int64
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 2 || len(g.Edges) != 1 || g.Edges[0].Denied != 2 || g.Edges[0].Allowed != 0 ||
		g.Edges[0].Source != "wl/demo/frontend-*" || g.Edges[0].Target != "wl/demo/database-*" {
		t.Errorf("graph %s", w.Body)
	}
	logs.err = &client.Error{Status: 400, Message: "selector: unknown field"}
	if w := do(h, "POST", "/api/flows/graph", "admin-token", `{}`); w.Code != 400 || !strings.Contains(w.Body.String(), "refused the query: selector") {
		t.Errorf("Linseed's refusal: %d %s", w.Code, w.Body)
	}
	logs.err = io.ErrUnexpectedEOF
	if w := do(h, "POST", "/api/flows/graph", "admin-token", `{}`); w.Code != 502 || !strings.Contains(w.Body.String(), "did not answer") {
		t.Errorf("Linseed down: %d %s", w.Code, w.Body)
	}
}

// TestPrometheusRoute: /prometheus/… reaches the Prometheus API service
// under its own path, with the user's own token.
func TestPrometheusRoute(t *testing.T) {
	var gotPath, gotAuth, gotQuery string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth, gotQuery = r.URL.Path, r.Header.Get("Authorization"), r.URL.Query().Get("query")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"status":"error","error":"not allowed"}`)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	h, _ := newTest(t, u)
	w := do(h, "GET", "/prometheus/api/v1/query?query=up", "viewer-token", "")
	if w.Code != 403 || gotPath != "/api/v1/query" || gotAuth != "Bearer viewer-token" || gotQuery != "up" {
		t.Errorf("proxied: %d %s; upstream saw path %q auth %q query %q", w.Code, w.Body, gotPath, gotAuth, gotQuery)
	}
}

// TestAssets: files are served, and the app's own routes get index.html
// so that bookmarked URLs load.
func TestAssets(t *testing.T) {
	h, _ := newTest(t, nil)
	// /compliance is the console's page; /compliance/ the reports' API.
	for _, p := range []string{"/", "/graph?focus=demo", "/flows", "/compliance", "/compliance?report=x"} {
		if w := do(h, "GET", p, "", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "console") {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
	}
	if w := do(h, "GET", "/compliance/reports", "", ""); w.Code != 401 {
		t.Errorf("/compliance/reports without a token: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/assets/app-1234.js", "", ""); w.Code != 200 || w.Body.String() != "js" || !strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("an asset: %d %q %v", w.Code, w.Body, w.Header())
	}
	empty, err := New(Config{Checker: &fakeChecker{}, Logs: &fakeLogs{}, Assets: fstest.MapFS{}})
	if err != nil {
		t.Fatal(err)
	}
	if w := do(empty, "GET", "/", "", ""); w.Code != 503 || !strings.Contains(w.Body.String(), "make build") {
		t.Errorf("without assets: %d %s", w.Code, w.Body)
	}
}

// TestSummary: the dashboard's timeline has the asked number of equal
// buckets over the range, each from its own aggregation, and the denied
// traffic is grouped by its ends and deciding policy, largest first.
func TestSummary(t *testing.T) {
	h, logs := newTest(t, nil)
	logs.answer["/flows/logs/aggregation"] = `{"aggregations":{"by_action":{"buckets":[
		{"key":"allow","doc_count":3,"flows":{"value":5},"bytes_in":{"value":100},"bytes_out":{"value":50}},
		{"key":"deny","doc_count":1,"flows":{"value":2},"bytes_in":{"value":0},"bytes_out":{"value":10}}]}}}`
	logs.answer["/flows/logs"] = `{"items":[
		{"source_namespace":"demo","source_name_aggr":"frontend-*","dest_namespace":"demo","dest_name_aggr":"database-*","dest_port":5432,"num_flows":2,
		 "policies":{"enforced_policies":["0|security|security.pass-demo|pass|0","1|default|demo/default.database|deny|-1"]}},
		{"source_namespace":"demo","source_name_aggr":"frontend-*","dest_namespace":"demo","dest_name_aggr":"database-*","dest_port":5432,"num_flows":3,
		 "policies":{"enforced_policies":["1|default|demo/default.database|deny|-1","0|security|security.pass-demo|pass|0"]}},
		{"source_namespace":"x","source_name_aggr":"a-*","dest_namespace":"y","dest_name_aggr":"b-*","dest_port":80,"num_flows":1}]}`
	w := do(h, "POST", "/api/flows/summary", "admin-token", `{"from":"2026-12-06T08:00:00Z","to":"2026-12-06T09:00:00Z","buckets":6}`)
	var sum Summary
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &sum) != nil {
		t.Fatalf("summary: %d %s", w.Code, w.Body)
	}
	if len(sum.Buckets) != 6 || sum.Buckets[0].End.Sub(sum.Buckets[0].Start) != 10*time.Minute || !sum.Buckets[5].End.Equal(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("buckets %+v", sum.Buckets)
	}
	if b := sum.Buckets[2]; b.Allowed != 5 || b.Denied != 2 || b.Bytes != 160 {
		t.Errorf("bucket %+v, want 5 allowed, 2 denied, 160 bytes", b)
	}
	if n := strings.Count(strings.Join(logs.paths, " "), "/flows/logs/aggregation"); n != 6 {
		t.Errorf("%d aggregations for 6 buckets", n)
	}
	if len(sum.Denied) != 2 || sum.Denied[0].Flows != 5 || sum.Denied[0].Policy != "1|default|demo/default.database|deny|-1" || sum.Denied[1].Policy != "" {
		t.Errorf("denied groups %+v", sum.Denied)
	}
	if w := do(h, "POST", "/api/flows/summary", "admin-token", `{"buckets":500}`); w.Code != 400 {
		t.Errorf("500 buckets: %d", w.Code)
	}
	if w := do(h, "POST", "/api/flows/summary", "viewer-token", `{}`); w.Code != 403 {
		t.Errorf("summary without flow access: %d", w.Code)
	}
}

// TestTimeline: the audit log as changes: writes only (not dry runs),
// the object as stored, a refused write's request; each audit log type
// authorised on its own.
func TestTimeline(t *testing.T) {
	h, logs := newTest(t, nil)
	logs.answer["/audit/logs"] = `{"items":[
		{"auditID":"a2","verb":"update","requestReceivedTimestamp":"2026-12-06T09:00:02.5Z","user":{"username":"bob"},
		 "objectRef":{"resource":"networksets","namespace":"default","name":"blocked"},"responseStatus":{"code":403,"message":"forbidden"},
		 "requestObject":{"spec":{"nets":["1.2.3.4/32"]}}},
		{"auditID":"a1","verb":"create","requestReceivedTimestamp":"2026-12-06T09:00:01Z","user":{"username":"alice"},
		 "objectRef":{"resource":"networksets","namespace":"default","name":"blocked"},"responseStatus":{"code":201},
		 "requestObject":{"spec":{}},"responseObject":{"spec":{"nets":["10.9.9.0/24"]}}}],"after_key":null,"total_hits":2}`
	w := do(h, "POST", "/api/timeline", "admin-token", `{"type":"calico","name":"blocked","user":"alice"}`)
	var res struct{ Items []Change }
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &res) != nil || len(res.Items) != 2 {
		t.Fatalf("timeline: %d %s", w.Code, w.Body)
	}
	if string(res.Items[0].Object) != `{"spec":{"nets":["1.2.3.4/32"]}}` || res.Items[0].Code != 403 {
		t.Errorf("a refused update shows %s", res.Items[0].Object)
	}
	if string(res.Items[1].Object) != `{"spec":{"nets":["10.9.9.0/24"]}}` || res.Items[1].User != "alice" {
		t.Errorf("a create shows %+v", res.Items[1])
	}
	p := logs.bodies[0]
	sel, _ := p["selector"].(string)
	for _, want := range []string{`verb IN {"create", "update", "patch", "delete", "deletecollection"}`, `requestURI NOTIN {"*dryRun=*"}`,
		`objectRef.name = "blocked"`, `user.username = "alice"`} {
		if !strings.Contains(sel, want) {
			t.Errorf("selector %q lacks %q", sel, want)
		}
	}
	if p["type"] != "ee" {
		t.Errorf("type %v, want Linseed's ee", p["type"])
	}
	for body, want := range map[string]int{`{"type":"kube"}`: 403, `{"type":"nodes"}`: 400, `{"before":"2026-12-06T09:00:00Z"}`: 400,
		`{"user":"a\"b"}`: 400, `{"namespace":"a b"}`: 400} {
		if w := do(h, "POST", "/api/timeline", "admin-token", body); w.Code != want {
			t.Errorf("%s: %d %s, want %d", body, w.Code, w.Body, want)
		}
	}
	if w := do(h, "POST", "/api/timeline", "viewer-token", `{}`); w.Code != 403 || !strings.Contains(w.Body.String(), "audit_ee") {
		t.Errorf("timeline without audit access: %d %s", w.Code, w.Body)
	}
}

// TestDNSLogs: the DNS tab's reads need the dns log type, a bad filter
// is a 400 naming the field, and a good one becomes Linseed's selector.
func TestDNSLogs(t *testing.T) {
	h, logs := newTest(t, nil)
	if w := do(h, "POST", "/api/dns/logs", "viewer-token", "{}"); w.Code != 403 || !strings.Contains(w.Body.String(), "may not read dns logs") {
		t.Errorf("without dns access: %d %s", w.Code, w.Body)
	}
	for body, want := range map[string]string{
		`{"rcode":"no error"}`: `rcode "no error"`,
		`{"qname":"a b"}`:      `qname "a b"`,
		`{"namespace":"a/b"}`:  `namespace "a/b"`,
		`{"action":"allow"}`:   `unknown field "action"`,
		`{"page_size":2000}`:   "page_size 2000",
	} {
		w := do(h, "POST", "/api/dns/logs", "admin-token", body)
		var e httpjson.ErrorBody
		if w.Code != 400 || json.Unmarshal(w.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, want) {
			t.Errorf("%s: %d %s, want 400 with %q", body, w.Code, w.Body, want)
		}
	}
	if len(logs.paths) != 0 {
		t.Fatalf("refused queries reached Linseed: %v", logs.paths)
	}
	w := do(h, "POST", "/api/dns/logs", "admin-token", `{"namespace":"dp","name":"cli","qname":"*.example.test","rcode":"NOERROR","page_size":20}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"qname":"api.example.test"`) {
		t.Fatalf("a valid query: %d %s", w.Code, w.Body)
	}
	if logs.paths[0] != "/dns/logs" {
		t.Errorf("asked Linseed's %s", logs.paths[0])
	}
	p := logs.bodies[0]
	if sel, want := p["selector"], `client_namespace = "dp" AND client_name_aggr = "cli" AND qname IN {"*.example.test"} AND rcode = "NOERROR"`; sel != want {
		t.Errorf("selector %q, want %q", sel, want)
	}
	if p["max_page_size"] != float64(20) {
		t.Errorf("page size %v", p["max_page_size"])
	}
}

// TestSecurityEvents: the alerts page's filter becomes Linseed's
// selector (dismissed events hidden unless asked for); dismissing needs
// the dismiss verb on events in Linseed's group, deleting the delete verb.
func TestSecurityEvents(t *testing.T) {
	h, logs := newTest(t, nil)
	w := do(h, "POST", "/api/events", "admin-token", `{"min_severity":50,"type":"gtf_suspicious_flow","namespace":"tf"}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"id":"e1"`) {
		t.Fatalf("events: %d %s", w.Code, w.Body)
	}
	sel, _ := logs.bodies[0]["selector"].(string)
	if sel != `severity >= 50 AND type = "gtf_suspicious_flow" AND (source_namespace = "tf" OR dest_namespace = "tf") AND dismissed = false` {
		t.Errorf("selector %q", sel)
	}
	if w := do(h, "POST", "/api/events", "admin-token", `{"min_severity":500}`); w.Code != 400 || !strings.Contains(w.Body.String(), "min_severity 500") {
		t.Errorf("a bad severity: %d %s", w.Code, w.Body)
	}
	if w := do(h, "POST", "/api/events/dismiss", "admin-token", `{"ids":["e1","e2"]}`); w.Code != 200 || !strings.Contains(w.Body.String(), `"changed":2`) {
		t.Errorf("dismiss: %d %s", w.Code, w.Body)
	}
	if last := logs.paths[len(logs.paths)-1]; last != "PUT /events/bulk" {
		t.Errorf("dismiss went to %s", last)
	}
	n := len(logs.paths)
	if w := do(h, "POST", "/api/events/dismiss", "viewer-token", `{"ids":["e1"]}`); w.Code != 403 || !strings.Contains(w.Body.String(), "may not dismiss") {
		t.Errorf("dismiss as a viewer: %d %s", w.Code, w.Body)
	}
	if w := do(h, "POST", "/api/events/delete", "admin-token", `{"ids":["e1"]}`); w.Code != 403 || !strings.Contains(w.Body.String(), "may not delete") {
		t.Errorf("delete without the verb: %d %s", w.Code, w.Body)
	}
	if w := do(h, "POST", "/api/events/dismiss", "admin-token", `{"ids":[]}`); w.Code != 400 {
		t.Errorf("dismiss nothing: %d %s", w.Code, w.Body)
	}
	if len(logs.paths) != n {
		t.Errorf("refused changes reached Linseed: %v", logs.paths[n:])
	}
	// A rule to test is checked by the validator first.
	if w := do(h, "POST", "/api/alerts/test", "admin-token", `{"name":"x","spec":{"dataSet":"flows","severity":500,"description":"d","query":"action = ("}}`); w.Code != 400 ||
		!strings.Contains(w.Body.String(), "severity") || !strings.Contains(w.Body.String(), "spec.query") {
		t.Errorf("testing a bad rule: %d %s", w.Code, w.Body)
	}
	if w := do(h, "POST", "/api/alerts/test", "viewer-token", `{"name":"x","spec":{"dataSet":"flows","severity":5,"description":"d"}}`); w.Code != 403 {
		t.Errorf("testing a rule over logs the user may not read: %d %s", w.Code, w.Body)
	}
}
