package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/manifests"
	"github.com/calicong/calico/internal/poll"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// start runs a program until the test ends (labtest.StartProcess).
func start(t testing.TB, name string, env []string, args ...string) *labtest.Process {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	return labtest.StartProcess(t, filepath.Base(name), cmd)
}

// freePorts are n loopback ports free now.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := labtest.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// startPrometheus runs the built Prometheus scraping itself every second.
func startPrometheus(t testing.TB) string {
	t.Helper()
	prom := labtest.Tool(t, "prometheus")
	dir := t.TempDir()
	port := freePorts(t, 1)[0]
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n- job_name: prometheus\n  static_configs: [{targets: [%q]}]\n", addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, prom, nil, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	url := "http://" + addr
	poll.Until(t, 30*time.Second, "prometheus to be ready", func() bool {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return url
}

const promNS = "prom-test"

// account creates a ServiceAccount, bound in promNS to a Role of the
// given verbs on services/proxy calico-node-prometheus:9090 (none: no
// binding), and returns a token of it.
func account(t testing.TB, name string, verbs ...string) string {
	t.Helper()
	ctx := context.Background()
	kube := testLab.Client.Kube
	if _, err := kube.CoreV1().ServiceAccounts(promNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(verbs) > 0 {
		if _, err := kube.RbacV1().Roles(promNS).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services/proxy"},
				ResourceNames: []string{"calico-node-prometheus:9090"}, Verbs: verbs}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.RbacV1().RoleBindings(promNS).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: promNS}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := kube.CoreV1().ServiceAccounts(promNS).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func request(t testing.TB, method, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rig is Prometheus and the proxy in front of it, running as its
// manifest's ServiceAccount with the given cache lifetime.
type rig struct {
	prom, proxy, metrics string
	proc                 *labtest.Process
}

func startRig(t testing.TB, ttl time.Duration) rig {
	t.Helper()
	bin := labtest.Bin(t)
	r := rig{prom: startPrometheus(t)}
	ctx := context.Background()
	if _, err := testLab.Client.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: promNS}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rbac, err := manifests.YAML("", manifests.PrometheusServiceRBAC())
	if err != nil {
		t.Fatal(err)
	}
	testLab.Apply(t, rbac)
	ports := freePorts(t, 2)
	port, metricsPort := ports[0], ports[1]
	r.proc = start(t, filepath.Join(bin, "calico-prometheus-service"), []string{
		"KUBECONFIG=" + testLab.KubeconfigAs(t, "system:serviceaccount:"+manifests.Namespace+":"+manifests.PrometheusServiceName),
		"PROMETHEUS_URL=" + r.prom, "PROMETHEUS_NAMESPACE=" + promNS, "AUTH_CACHE_TTL=" + ttl.String(),
		fmt.Sprintf("LISTEN_ADDR=127.0.0.1:%d", port), fmt.Sprintf("METRICS_LISTEN=127.0.0.1:%d", metricsPort),
	})
	r.proxy, r.metrics = fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	poll.Until(t, 20*time.Second, "the proxy to serve /health", func() bool {
		resp, err := http.Get(r.proxy + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return r
}

// reviews is the number of reviews the proxy sent, of a kind ("token",
// "access") or of both ("").
func (r rig) reviews(t testing.TB, kind string) float64 {
	t.Helper()
	_, body := request(t, "GET", r.metrics, "")
	var sum float64
	for l := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(l, "calico_prometheus_service_reviews_total{") && strings.Contains(l, `kind="`+kind) {
			var v float64
			fmt.Sscan(l[strings.LastIndex(l, " ")+1:], &v)
			sum += v
		}
	}
	return sum
}

// TestProxy runs the binary with exactly its manifest's permissions between a real API server and a real Prometheus:
// 401, 403 and 405 as documented; an allowed user's query and
// query_range answered exactly as Prometheus answers them; 50 concurrent
// queries of a new user cost one TokenReview and one SubjectAccessReview;
// a revoked RoleBinding stops working within the cache window.
func TestProxy(t *testing.T) {
	const ttl = 3 * time.Second
	r := startRig(t, ttl)
	promURL, proxy := r.prom, r.proxy
	ctx := context.Background()
	if logs := r.proc.Logs.String(); !strings.Contains(logs, "calico-prometheus-service serving") {
		t.Errorf("no start-up line in the log:\n%s", logs)
	}

	dashboard := account(t, "dashboard", "get", "create")
	getter := account(t, "getter", "get")
	nobody := account(t, "nobody")
	query := "/api/v1/query?query=vector(1)&time=1796540000"
	for _, tc := range []struct {
		method, token string
		status        int
		body          string
	}{
		{"GET", "", 401, "no bearer token"},
		{"GET", "forged.token.value", 401, "not valid"},
		{"GET", nobody, 403, `may not get services/proxy`},
		{"POST", getter, 403, `may not create services/proxy`},
		{"PUT", dashboard, 405, "method PUT"},
		{"DELETE", dashboard, 405, "method DELETE"},
	} {
		if status, body := request(t, tc.method, proxy+query, tc.token); status != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("%s as %.12q: %d %s, want %d %s", tc.method, tc.token, status, body, tc.status, tc.body)
		}
	}

	// Allowed: the answers are Prometheus's, byte for byte.
	var upNow string
	poll.Until(t, 20*time.Second, "prometheus to scrape itself", func() bool {
		_, upNow = request(t, "GET", promURL+"/api/v1/query?query=up", "")
		return strings.Contains(upNow, `"value":[`) && strings.Contains(upNow, `"1"]`)
	})
	end := time.Now().Unix()
	for _, tc := range []struct{ method, token, path string }{
		{"GET", getter, query},
		{"POST", dashboard, query},
		{"GET", dashboard, fmt.Sprintf("/api/v1/query_range?query=up&start=%d&end=%d&step=1", end-5, end)},
		{"GET", getter, "/api/v1/label/job/values"},
	} {
		_, direct := request(t, tc.method, promURL+tc.path, "")
		status, proxied := request(t, tc.method, proxy+tc.path, tc.token)
		if status != 200 || proxied != direct {
			t.Errorf("%s %s: %d\n%s\nPrometheus answered:\n%s", tc.method, tc.path, status, proxied, direct)
		}
	}

	// A dashboard's burst: 50 concurrent queries of a user not seen yet.
	burst := account(t, "burst", "get")
	tokens, access := r.reviews(t, "token"), r.reviews(t, "access")
	var wg sync.WaitGroup
	codes := make(chan int, 50)
	for range 50 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", proxy+query, nil)
			req.Header.Set("Authorization", "Bearer "+burst)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("a burst query answered %d", c)
		}
	}
	if dt, da := r.reviews(t, "token")-tokens, r.reviews(t, "access")-access; dt != 1 || da != 1 {
		t.Errorf("50 concurrent queries of one new user cost %v TokenReviews and %v SubjectAccessReviews, want 1 and 1", dt, da)
	}

	// Revoking the binding takes effect within the cache window.
	if status, _ := request(t, "GET", proxy+query, getter); status != 200 {
		t.Fatalf("getter before the revocation: %d", status)
	}
	if err := testLab.Client.Kube.RbacV1().RoleBindings(promNS).Delete(ctx, "getter", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	poll.Until(t, ttl+5*time.Second, "the revoked grant to be refused", func() bool {
		status, _ := request(t, "GET", proxy+query, getter)
		return status == 403
	})
	if took := time.Since(revoked); took > ttl+time.Second {
		t.Errorf("the revocation took effect after %v, more than the cache's %v", took, ttl)
	}
	t.Logf("the revocation took effect after %v (cache %v)", time.Since(revoked).Round(100*time.Millisecond), ttl)
}

// BenchmarkProxy: 50 concurrent dashboard clients, each alternating a
// query straight to Prometheus and one through the proxy; reports both
// latencies, the p50 and p99 the proxy adds, and the reviews it sent per
// cache window and per query.
//
// The added p99 is the difference of two tails, and the tails are
// Prometheus's queue: over 8,000 queries a side it moved by ±10 ms from
// run to run on 2 cores, hence 20,000. proxy-own-* is paired instead:
// each proxied query's whole time less the part Prometheus took (the
// proxy's Server-Timing entry), so it holds the proxy's work, the extra
// hop and the waits for a core, and none of Prometheus's queue.
func BenchmarkProxy(b *testing.B) {
	const ttl = 10 * time.Second
	r := startRig(b, ttl)
	promURL, proxy := r.prom, r.proxy
	token := account(b, fmt.Sprintf("bench-%d", time.Now().UnixNano()), "get", "create")
	const clients = 50
	// A dashboard's query: a rate over the last five minutes.
	path := "/api/v1/query?query=" + url.QueryEscape(`sum(rate(prometheus_http_requests_total[5m]))`)
	// Each client alternates a query straight to Prometheus and one
	// through the proxy, so both see the same moments of the run (a
	// Prometheus pause, a busy core) and differ only by the proxy.
	run := func(perClient int) (direct, proxied, own []time.Duration) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
		// one returns a query's time and, through the proxy, the part of
		// it Prometheus took (its Server-Timing entry).
		one := func(base, token string) (took, upstream time.Duration, ok bool) {
			req, _ := http.NewRequest("GET", base+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return 0, 0, false
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			took = time.Since(t0)
			if resp.StatusCode != 200 {
				b.Errorf("%s: %d", base, resp.StatusCode)
				return 0, 0, false
			}
			for _, e := range resp.Header.Values("Server-Timing") {
				var ms float64
				if n, _ := fmt.Sscanf(e, "prometheus;dur=%g", &ms); n == 1 {
					upstream = time.Duration(ms * float64(time.Millisecond))
				}
			}
			return took, upstream, true
		}
		for c := range clients {
			wg.Go(func() {
				var d, p, o []time.Duration
				for i := range perClient {
					// Half the clients start with each, so the two are
					// in flight in equal numbers.
					if (i+c)%2 == 0 {
						t, _, ok := one(promURL, "")
						if !ok {
							return
						}
						d = append(d, t)
					} else {
						t, up, ok := one(proxy, token)
						if !ok {
							return
						}
						if up == 0 {
							b.Error("a proxied answer without its prometheus Server-Timing entry")
							return
						}
						p, o = append(p, t), append(o, t-up)
					}
				}
				mu.Lock()
				direct, proxied, own = append(direct, d...), append(proxied, p...), append(own, o...)
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(direct)
		slices.Sort(proxied)
		slices.Sort(own)
		return direct, proxied, own
	}
	pct := func(d []time.Duration, p int) float64 {
		return float64(d[min(len(d)-1, len(d)*p/100)].Microseconds()) / 1000
	}
	tokens, access := r.reviews(b, "token"), r.reviews(b, "access")
	start := time.Now()
	const warm, measured = 40, 400 // queries per client
	run(warm)
	direct, proxied, own := run(measured)
	// The most cache windows the runs spanned.
	windows := float64(time.Since(start)/ttl + 1)
	b.ReportMetric(pct(direct, 50), "direct-p50-ms")
	b.ReportMetric(pct(direct, 99), "direct-p99-ms")
	b.ReportMetric(pct(proxied, 50), "proxy-p50-ms")
	b.ReportMetric(pct(proxied, 99), "proxy-p99-ms")
	b.ReportMetric(pct(proxied, 50)-pct(direct, 50), "added-p50-ms")
	b.ReportMetric(pct(proxied, 99)-pct(direct, 99), "added-p99-ms")
	// Paired, query by query: its whole time less Prometheus's part.
	b.ReportMetric(pct(own, 50), "proxy-own-p50-ms")
	b.ReportMetric(pct(own, 99), "proxy-own-p99-ms")
	b.ReportMetric((r.reviews(b, "access")-access)/windows, "sar-per-user-window")
	b.ReportMetric((r.reviews(b, "token")-tokens)/windows, "tokenreviews-per-user-window")
	b.ReportMetric((r.reviews(b, "access")-access)/float64(clients*(warm+measured)/2), "sar-per-query")
}
