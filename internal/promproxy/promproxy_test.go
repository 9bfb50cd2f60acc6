package promproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calicong/calico/internal/kubeauth"
)

// fakeChecker knows tokens and grants: "reader" may get, "writer" may
// get and create; anyone else is refused.
type fakeChecker struct {
	mu     sync.Mutex
	checks []kubeauth.Access
}

func (f *fakeChecker) Authenticate(_ context.Context, token string) (kubeauth.User, error) {
	switch token {
	case "reader", "writer", "nobody":
		return kubeauth.User{Name: token}, nil
	}
	return kubeauth.User{}, kubeauth.ErrInvalidToken
}

func (f *fakeChecker) Authorize(_ context.Context, u kubeauth.User, a kubeauth.Access) (bool, error) {
	f.mu.Lock()
	f.checks = append(f.checks, a)
	f.mu.Unlock()
	if a.Resource != "services" || a.Subresource != "proxy" || a.Name != ServiceName || a.Namespace != "monitoring" {
		return false, nil
	}
	return u.Name == "writer" || u.Name == "reader" && a.Verb == "get", nil
}

// newProxy runs the proxy in front of upstream; it returns the proxy, the
// upstream's URL and the checker.
func newProxy(t testing.TB, upstream http.Handler) (*httptest.Server, string, *fakeChecker) {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	fc := &fakeChecker{}
	h, err := New(Config{Upstream: u, Checker: fc, Namespace: "monitoring"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, up.URL, fc
}

func do(t *testing.T, method, url, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(""))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestRefusals: /health is open; no token or a bad one is 401, a user
// without the grant 403 (for POST, create), another method 405; an
// allowed request reaches Prometheus without the caller's token.
func TestRefusals(t *testing.T) {
	var gotAuth []string
	var mu sync.Mutex
	srv, _, fc := newProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprintf(w, `{"status":"success","path":%q,"query":%q}`, r.URL.Path, r.URL.RawQuery)
	}))
	for _, tc := range []struct {
		method, path, token string
		status              int
		body                string
	}{
		{"GET", "/health", "", 200, "ok"},
		{"GET", "/api/v1/query?query=up", "", 401, "no bearer token"},
		{"GET", "/api/v1/query?query=up", "forged", 401, "not valid"},
		{"GET", "/api/v1/query?query=up", "nobody", 403, `user \"nobody\" may not get services/proxy \"calico-node-prometheus:9090\" in namespace \"monitoring\"`},
		{"POST", "/api/v1/query?query=up", "reader", 403, "may not create"},
		{"PUT", "/api/v1/query?query=up", "writer", 405, "method PUT"},
		{"DELETE", "/api/v1/admin/tsdb/delete_series", "writer", 405, "method DELETE"},
		{"GET", "/api/v1/query?query=up", "reader", 200, `"path":"/api/v1/query","query":"query=up"`},
		{"POST", "/api/v1/query_range?query=up", "writer", 200, `"path":"/api/v1/query_range"`},
	} {
		resp, body := do(t, tc.method, srv.URL+tc.path, tc.token)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s as %q: %d %s, want %d with %s", tc.method, tc.path, tc.token, resp.StatusCode, body, tc.status, tc.body)
		}
		if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s as %q: a 401 without WWW-Authenticate", tc.method, tc.path, tc.token)
		}
		if tc.status == 405 && resp.Header.Get("Allow") != "GET, POST" {
			t.Errorf("%s: Allow %q", tc.method, resp.Header.Get("Allow"))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gotAuth) != 2 || gotAuth[0] != "" || gotAuth[1] != "" {
		t.Errorf("Prometheus got %d requests with Authorization %q; want 2, without the caller's token", len(gotAuth), gotAuth)
	}
	for _, a := range fc.checks {
		if a.Group != "" || a.Resource != "services" || a.Subresource != "proxy" {
			t.Errorf("checked %+v", a)
		}
	}
}

// TestStreamsAndCancels: the answer reaches the client chunk by chunk as
// Prometheus writes it, and a client that goes away cancels Prometheus's
// request.
func TestStreamsAndCancels(t *testing.T) {
	cancelled := make(chan struct{})
	release := make(chan struct{})
	srv, _, _ := newProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "first chunk")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-release:
		}
	}))
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/query_range?query=slow", nil)
	req.Header.Set("Authorization", "Bearer reader")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first chunk\n" {
		t.Fatalf("before Prometheus finished, read %q, %v", line, err)
	}
	cancel()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the client went away and Prometheus's request was not cancelled within 5s")
	}
}

// TestServerTiming: an answer carries how long Prometheus took, at
// least what the upstream spent, and the proxy keeps Prometheus's own
// Server-Timing entries.
func TestServerTiming(t *testing.T) {
	const upstream = 30 * time.Millisecond
	srv, _, _ := newProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(upstream) // the upstream's cost under test, not synchronisation
		w.Header().Set("Server-Timing", "engine;dur=1")
		fmt.Fprintln(w, `{"status":"success"}`)
	}))
	resp, _ := do(t, "GET", srv.URL+"/api/v1/query?query=up", "reader")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	entries := resp.Header.Values("Server-Timing")
	var dur float64
	found := false
	for _, e := range entries {
		if n, _ := fmt.Sscanf(e, "prometheus;dur=%g", &dur); n == 1 {
			found = true
		}
	}
	if !found || len(entries) != 2 {
		t.Fatalf("Server-Timing %q: want Prometheus's own entry and one prometheus;dur=", entries)
	}
	if dur < float64(upstream.Milliseconds()) || dur > 5000 {
		t.Errorf("prometheus;dur=%g ms, want at least the upstream's %v", dur, upstream)
	}
}
