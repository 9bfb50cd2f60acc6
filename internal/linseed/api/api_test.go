package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/linseed/store/sqlite"
	"github.com/calicong/calico/internal/linseed/store/storetest"
)

// tokens: "writer" may create everything, "reader" may get everything,
// "nobody" nothing; any other token is invalid.
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, token string) (User, error) {
	switch token {
	case "writer", "reader", "nobody":
		return User{Name: "system:serviceaccount:calico-system:" + token}, nil
	}
	return User{}, ErrUnauthenticated
}

func (fakeAuth) Authorize(_ context.Context, u User, verb, resource string) (bool, error) {
	switch {
	case strings.HasSuffix(u.Name, ":writer"):
		return verb == "create" || verb == "dismiss" || verb == "delete", nil
	case strings.HasSuffix(u.Name, ":reader"):
		return verb == "get", nil
	}
	return false, nil
}

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "logs.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := New(Config{Store: st, Authn: fakeAuth{}, Authz: fakeAuth{}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type client struct {
	t       *testing.T
	url     string
	token   string
	cluster string
}

func (c client) do(method, path, contentType, body string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+"/api/v1"+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.cluster != "" {
		req.Header.Set("x-cluster-id", c.cluster)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatalf("%s %s: status %d, body not JSON: %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func (c client) post(path, body string) (int, map[string]any) {
	return c.do("POST", path, "application/json", body)
}

func (c client) bulk(path, body string) (int, map[string]any) {
	return c.do("POST", path, "application/x-ndjson", body)
}

func flowLines(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 9))
	out := make([]string, n)
	for i := range out {
		out[i] = storetest.FlowLine(rng)
	}
	return out
}

func TestAuthentication(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		token, method, path string
		status              int
		msg                 string
	}{
		{"", "POST", "/flows/logs", 401, "no bearer token"},
		{"forged", "POST", "/flows/logs", 401, "the bearer token is not valid"},
		{"nobody", "POST", "/flows/logs", 403, `"system:serviceaccount:calico-system:nobody" may not get flowlogs (API group linseed.tigera.io)`},
		{"reader", "POST", "/flows/logs/bulk", 403, "may not create flowlogs"},
		{"writer", "POST", "/flows/logs", 403, "may not get flowlogs"},
		{"writer", "POST", "/audit/logs/ee/bulk", 415, "application/x-ndjson"},
		{"reader", "POST", "/dns/logs", 200, ""},
		{"reader", "POST", "/no/such", 404, "no such endpoint"},
		{"writer", "PUT", "/events/bulk", 415, ""},
	} {
		status, body := client{t: t, url: srv.URL, token: tc.token}.post(tc.path, "{}")
		msg, _ := body["error"].(string)
		if tc.method == "PUT" {
			status, body = client{t: t, url: srv.URL, token: tc.token}.do("PUT", tc.path, "text/plain", "")
			msg, _ = body["error"].(string)
		}
		if status != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s %s with %q: %d %q, want %d %q", tc.method, tc.path, tc.token, status, msg, tc.status, tc.msg)
		}
	}
}

func TestBulkAndRead(t *testing.T) {
	srv := newServer(t)
	w := client{t: t, url: srv.URL, token: "writer"}
	r := client{t: t, url: srv.URL, token: "reader"}
	lines := flowLines(200, 1)
	// Line 3 is malformed, line 5 has a wrong type: reported by number,
	// the rest stored.
	body := strings.Join(lines[:2], "\n") + "\n{not json\n" + lines[2] + "\n" + `{"end_time":1,"bytes_in":"lots"}` + "\n\n" + strings.Join(lines[3:], "\n") + "\n"
	status, res := w.bulk("/flows/logs/bulk", body)
	if status != 200 || res["total"] != 202.0 || res["succeeded"] != 200.0 || res["failed"] != 2.0 {
		t.Fatalf("bulk: %d %v", status, res)
	}
	errs := res["errors"].([]any)
	if e := errs[0].(map[string]any); e["line"] != 3.0 || !strings.Contains(e["reason"].(string), "invalid JSON") {
		t.Errorf("first error: %v", e)
	}
	if e := errs[1].(map[string]any); e["line"] != 5.0 || e["reason"] != "bytes_in: expected a whole number, got a string" {
		t.Errorf("second error: %v", e)
	}
	// A retry of the same batch stores nothing again.
	if _, res := w.bulk("/flows/logs/bulk", strings.Join(lines[:50], "\n")); res["duplicates"] != 50.0 || res["succeeded"] != 50.0 {
		t.Errorf("retry: %v", res)
	}
	// Paging with after_key returns every record once, in order: newest
	// first by default and when sorted by end_time descending (the
	// stored order, read without sorting), and by any other sort.
	for _, sort := range []string{``, `[{"field":"end_time","descending":true}]`, `[{"field":"end_time"}]`,
		`[{"field":"action"},{"field":"end_time","descending":true}]`} {
		seen := map[string]int{}
		var items []map[string]any
		var after any
		pages := 0
		for {
			req := map[string]any{"max_page_size": 30}
			if sort != "" {
				req["sort"] = json.RawMessage(sort)
			}
			if after != nil {
				req["after_key"] = after
			}
			b, _ := json.Marshal(req)
			status, page := r.post("/flows/logs", string(b))
			if status != 200 {
				t.Fatalf("sort %s, page %d: %d %v", sort, pages, status, page)
			}
			if page["total_hits"] != 200.0 {
				t.Fatalf("total_hits %v", page["total_hits"])
			}
			for _, it := range page["items"].([]any) {
				k, _ := json.Marshal(it)
				seen[string(k)]++
				items = append(items, it.(map[string]any))
			}
			pages++
			after = page["after_key"]
			if after == nil {
				break
			}
		}
		if len(seen) != 200 || pages != 7 {
			t.Errorf("sort %s: %d distinct records in %d pages, want 200 in 7", sort, len(seen), pages)
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("sort %s: record seen %d times: %s", sort, n, k)
			}
		}
		for i := 1; i < len(items); i++ {
			a, b := items[i-1], items[i]
			var ok bool
			switch sort {
			case ``, `[{"field":"end_time","descending":true}]`:
				ok = a["end_time"].(float64) >= b["end_time"].(float64)
			case `[{"field":"end_time"}]`:
				ok = a["end_time"].(float64) <= b["end_time"].(float64)
			default:
				ok = a["action"].(string) < b["action"].(string) || (a["action"] == b["action"] && a["end_time"].(float64) >= b["end_time"].(float64))
			}
			if !ok {
				t.Fatalf("sort %s: record %d is out of order after %d:\n%v\n%v", sort, i, i-1, a, b)
			}
		}
	}
	// Selector, actions and namespaces, and count.
	status, res = r.post("/flows/logs/count", `{"selector":"dest_port = 443 AND NOT proto = udp","actions":["deny"],"namespace_matches":[{"type":"any","namespaces":["demo"]}]}`)
	want := 0
	for _, l := range lines {
		var m map[string]any
		_ = json.Unmarshal([]byte(l), &m)
		if m["dest_port"] == 443.0 && m["proto"] != "udp" && m["action"] == "deny" && (m["source_namespace"] == "demo" || m["dest_namespace"] == "demo") {
			want++
		}
	}
	if status != 200 || res["count"] != float64(want) || want == 0 {
		t.Errorf("count: %d %v, want %d", status, res, want)
	}
	// A bad selector says where.
	status, res = r.post("/flows/logs", `{"selector":"action = deny AND"}`)
	if status != 400 || !strings.Contains(res["error"].(string), "selector: query \"action = deny AND\", column 18: expected a term") {
		t.Errorf("bad selector: %d %v", status, res)
	}
	status, res = r.post("/flows/logs", `{"selector":"colour = red"}`)
	if status != 400 || !strings.Contains(res["error"].(string), `unknown key "colour"`) {
		t.Errorf("unknown key: %d %v", status, res)
	}
	status, res = r.post("/flows/logs", `{"max_page_size": 5, "sortt": []}`)
	if status != 400 || !strings.Contains(res["error"].(string), `unknown field "sortt"`) {
		t.Errorf("unknown parameter: %d %v", status, res)
	}
	// Another cluster sees nothing.
	other := client{t: t, url: srv.URL, token: "reader", cluster: "managed-1"}
	if _, res := other.post("/flows/logs/count", "{}"); res["count"] != 0.0 {
		t.Errorf("another cluster's count: %v", res)
	}
	if status, _ := (client{t: t, url: srv.URL, token: "reader", cluster: "Bad Name"}).post("/flows/logs", "{}"); status != 400 {
		t.Errorf("bad cluster name: %d", status)
	}
	// Time range.
	from, to := storetest.Base.Add(24*time.Hour).Format(time.RFC3339), storetest.Base.Add(48*time.Hour).Format(time.RFC3339)
	_, res = r.post("/flows/logs/count", fmt.Sprintf(`{"time_range":{"from":%q,"to":%q}}`, from, to))
	if c := res["count"].(float64); c <= 0 || c >= 200 {
		t.Errorf("one day of three: %v", c)
	}
}

func TestAggregation(t *testing.T) {
	srv := newServer(t)
	w := client{t: t, url: srv.URL, token: "writer"}
	r := client{t: t, url: srv.URL, token: "reader"}
	lines := flowLines(300, 2)
	w.bulk("/flows/logs/bulk", strings.Join(lines, "\n"))
	status, res := r.post("/flows/logs/aggregation", `{"aggregations":{
		"by_action":{"terms":{"field":"action"},"aggs":{"bytes":{"sum":{"field":"bytes_in"}},"by_proto":{"terms":{"field":"proto","size":2}}}},
		"total":{"sum":{"field":"bytes_in"}}}}`)
	if status != 200 {
		t.Fatalf("%d %v", status, res)
	}
	type sums struct{ n, bytes float64 }
	want := map[string]*sums{}
	var total float64
	for _, l := range lines {
		var m map[string]any
		_ = json.Unmarshal([]byte(l), &m)
		a := m["action"].(string)
		if want[a] == nil {
			want[a] = &sums{}
		}
		want[a].n++
		want[a].bytes += m["bytes_in"].(float64)
		total += m["bytes_in"].(float64)
	}
	aggs := res["aggregations"].(map[string]any)
	if v := aggs["total"].(map[string]any)["value"]; v != total {
		t.Errorf("total %v, want %v", v, total)
	}
	buckets := aggs["by_action"].(map[string]any)["buckets"].([]any)
	if len(buckets) != len(want) {
		t.Fatalf("buckets: %v", buckets)
	}
	for _, b := range buckets {
		bm := b.(map[string]any)
		w := want[bm["key"].(string)]
		if bm["doc_count"] != w.n || bm["bytes"].(map[string]any)["value"] != w.bytes {
			t.Errorf("bucket %v: want %v docs, %v bytes", bm, w.n, w.bytes)
		}
		if sub := bm["by_proto"].(map[string]any)["buckets"].([]any); len(sub) != 2 {
			t.Errorf("nested terms with size 2: %v", sub)
		}
	}
	status, res = r.post("/flows/logs/aggregation", `{"aggregations":{"x":{"histogram":{"field":"bytes_in"}}}}`)
	if status != 400 || !strings.Contains(res["error"].(string), "supported: terms") {
		t.Errorf("unsupported aggregation: %d %v", status, res)
	}
	// The L3 flow view.
	status, res = r.post("/flows", `{"actions":["allow"]}`)
	if status != 200 || len(res["items"].([]any)) == 0 {
		t.Fatalf("/flows: %d %v", status, res)
	}
	it := res["items"].([]any)[0].(map[string]any)
	if it["key"].(map[string]any)["action"] != "allow" || it["traffic_stats"].(map[string]any)["bytes_in"] == nil {
		t.Errorf("an L3 flow: %v", it)
	}
}

func TestEvents(t *testing.T) {
	srv := newServer(t)
	w := client{t: t, url: srv.URL, token: "writer"}
	r := client{t: t, url: srv.URL, token: "reader"}
	var b bytes.Buffer
	for i := range 10 {
		fmt.Fprintf(&b, `{"id":"e%d","time":%d,"type":"global_alert","severity":%d,"description":"alert %d","dismissed":false}`+"\n",
			i, time.Now().Unix()-int64(i), 10*i, i)
	}
	if _, res := w.bulk("/events/bulk", b.String()); res["succeeded"] != 10.0 {
		t.Fatalf("create: %v", res)
	}
	if status, res := w.do("PUT", "/events/bulk", "application/x-ndjson", `{"id":"e1"}`+"\n"+`{"id":"e2"}`+"\n"+`{"nope":1}`); status != 200 || res["succeeded"] != 2.0 || res["failed"] != 1.0 {
		t.Errorf("dismiss: %d %v", status, res)
	}
	if _, res := r.post("/events/count", `{"selector":"dismissed = true"}`); res["count"] != 2.0 {
		t.Errorf("dismissed: %v", res)
	}
	if status, res := w.do("DELETE", "/events/bulk", "application/x-ndjson", `{"id":"e9"}`); status != 200 || res["succeeded"] != 1.0 {
		t.Errorf("delete: %d %v", status, res)
	}
	_, res := r.post("/events", `{"sort":[{"field":"severity","descending":true}],"max_page_size":3}`)
	items := res["items"].([]any)
	if res["total_hits"] != 9.0 || len(items) != 3 || items[0].(map[string]any)["id"] != "e8" {
		t.Errorf("events by severity: %v", res)
	}
}

// TestThreatFeedPush: a pushed feed is one document by its id; pushing
// it again replaces it; deleting it removes it.
func TestThreatFeedPush(t *testing.T) {
	srv := newServer(t)
	w := client{t: t, url: srv.URL, token: "writer"}
	r := client{t: t, url: srv.URL, token: "reader"}
	doc := func(ips ...string) string {
		b, _ := json.Marshal(map[string]any{"id": "pushed", "data": map[string]any{"created_at": time.Now().UTC().Format(time.RFC3339Nano), "ips": ips}})
		return string(b) + "\n"
	}
	if _, res := w.bulk("/threatfeeds/ipset/bulk", doc("192.0.2.1", "192.0.2.2")); res["succeeded"] != 1.0 {
		t.Fatalf("push: %v", res)
	}
	if _, res := w.bulk("/threatfeeds/ipset/bulk", doc("198.51.100.0/24")); res["succeeded"] != 1.0 {
		t.Fatalf("push again: %v", res)
	}
	_, res := r.post("/threatfeeds/ipset", `{"selector":"id = \"pushed\""}`)
	items, _ := res["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("after two pushes: %v, want one document", res)
	}
	if ips := items[0].(map[string]any)["data"].(map[string]any)["ips"]; fmt.Sprint(ips) != "[198.51.100.0/24]" {
		t.Errorf("the feed holds %v, want the second push's", ips)
	}
	if _, res := r.post("/threatfeeds/domainnameset", `{}`); res["total_hits"] != 0.0 {
		t.Errorf("domain feeds: %v", res)
	}
	if status, res := w.do("DELETE", "/threatfeeds/ipset/bulk", "application/x-ndjson", `{"id":"pushed"}`); status != 200 || res["succeeded"] != 1.0 {
		t.Errorf("delete: %d %v", status, res)
	}
	if _, res := r.post("/threatfeeds/ipset", `{}`); res["total_hits"] != 0.0 {
		t.Errorf("after delete: %v", res)
	}
}

func TestAuditType(t *testing.T) {
	srv := newServer(t)
	w := client{t: t, url: srv.URL, token: "writer"}
	r := client{t: t, url: srv.URL, token: "reader"}
	ev := `{"kind":"Event","auditID":"%s","verb":"create","user":{"username":"alice"},"objectRef":{"resource":"%s"},"requestReceivedTimestamp":"2026-12-06T10:00:00Z","stageTimestamp":"2026-12-06T10:00:00Z","stage":"ResponseComplete"}`
	w.bulk("/audit/logs/ee/bulk", fmt.Sprintf(ev, "a1", "networkpolicies"))
	w.bulk("/audit/logs/kube/bulk", fmt.Sprintf(ev, "a2", "pods")+"\n"+fmt.Sprintf(ev, "a3", "secrets"))
	for typ, want := range map[string]float64{"ee": 1, "kube": 2, "": 2} {
		path := "/audit/logs/count"
		if typ != "" {
			path += "?type=" + typ
		}
		if _, res := r.post(path, `{"selector":"user.username = alice"}`); res["count"] != want {
			t.Errorf("audit %q: %v, want %v", typ, res, want)
		}
	}
	if _, res := r.post("/audit/logs/count", `{"type":"ee","selector":"user.username = alice"}`); res["count"] != 1.0 {
		t.Errorf("audit type ee in the body: %v", res)
	}
	if status, _ := r.post("/audit/logs?type=both", "{}"); status != 400 {
		t.Errorf("audit type both: %d", status)
	}
	if status, _ := r.post("/audit/logs?type=kube", `{"type":"ee"}`); status != 400 {
		t.Errorf("audit types disagreeing: %d", status)
	}
}
