package bench

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/client"
	"github.com/calicong/calico/internal/linseed/flowgen"
	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/linseed/store/clickhouse"
	"github.com/calicong/calico/internal/linseed/store/clickhouse/chtest"
	"github.com/calicong/calico/internal/linseed/store/sqlite"
	"github.com/calicong/calico/internal/manager"
	"github.com/calicong/calico/internal/manager/web"
)

// The shape of the run: flow logs over the last hour between 300
// workloads (15 in each of 20 namespaces), a million of them in
// ClickHouse (the store for clusters that size, as the issue asks) and a
// hundred thousand in SQLite (the embedded store, for a lab or a small
// cluster); a hundred thousand more in a second cluster for the preview.
const (
	namespaces   = 20
	apps         = 15
	previewFlows = 100_000
	queries      = 30
)

func flowsToStore(env string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(env)); err == nil && n > 0 {
		return n
	}
	return def
}

type allowAll struct{}

func (allowAll) Authenticate(context.Context, string) (api.User, error) {
	return api.User{Name: "bench"}, nil
}
func (allowAll) Authorize(context.Context, api.User, string, string) (bool, error) { return true, nil }

// admin lets the console's user do anything: the run measures the work,
// not the checks.
type admin struct{}

func (admin) Authenticate(context.Context, string) (kubeauth.User, error) {
	return kubeauth.User{Name: "bench"}, nil
}
func (admin) Authorize(context.Context, kubeauth.User, kubeauth.Access) (bool, error) {
	return true, nil
}

func BenchmarkConsole(b *testing.B) {
	l, err := labtest.Start(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Stop()
	token := clusterState(b, l)
	b.Run("store=clickhouse", func(b *testing.B) {
		srv := chtest.Run(b)
		st, err := clickhouse.Open(context.Background(), clickhouse.Config{Addr: srv.Addr, Database: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		db := ch.OpenDB(&ch.Options{Addr: []string{srv.Addr}})
		defer db.Close()
		// A bulk load leaves ClickHouse merging its parts for a while,
		// which a cluster taking in its flows as they come does not: the
		// queries are measured once the merges are done.
		settle := func() {
			deadline := time.Now().Add(3 * time.Minute)
			for {
				var n int
				if err := db.QueryRow("SELECT count() FROM system.merges WHERE database = 'bench'").Scan(&n); err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					return
				}
				if time.Now().After(deadline) {
					b.Fatalf("ClickHouse is still merging %d parts after three minutes", n)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		run(b, l, token, st, flowsToStore("CONSOLE_BENCH_FLOWS", 1_000_000), settle)
	})
	b.Run("store=sqlite", func(b *testing.B) {
		st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "logs.db")})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		run(b, l, token, st, flowsToStore("CONSOLE_BENCH_SQLITE_FLOWS", 100_000), func() {})
	})
}

// run stores n flow logs (and the preview's) through Linseed over st and
// measures the console over them.
func run(b *testing.B, l *labtest.Lab, token string, st store.Store, n int, settle func()) {
	h, err := api.New(api.Config{Store: st, Authn: allowAll{}, Authz: allowAll{}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	linseed := httptest.NewUnstartedServer(h)
	linseed.EnableHTTP2 = false
	linseed.StartTLS()
	defer linseed.Close()
	now := time.Now().Unix()
	start := time.Now()
	ingest(b, linseed, "cluster", flowgen.Gen{Now: now, N: n, Span: 3600, Namespaces: namespaces, Apps: apps})
	ingest(b, linseed, "preview", flowgen.Gen{Now: now, N: previewFlows, Span: 3600, Namespaces: namespaces, Apps: apps})
	b.Logf("%d + %d flow logs stored in %v", n, previewFlows, time.Since(start).Round(time.Second))
	settle()

	tokenFile := filepath.Join(b.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("linseed"), 0o600); err != nil {
		b.Fatal(err)
	}
	console := func(cluster string) http.Handler {
		hm, err := manager.New(manager.Config{Checker: admin{}, Cluster: cluster, Assets: web.Assets(), UserClients: manager.NewUserClients(l.REST),
			Logs: &client.Client{URL: linseed.URL, Cluster: cluster, TokenFile: tokenFile, HTTP: linseed.Client()}})
		if err != nil {
			b.Fatal(err)
		}
		return hm
	}
	main, preview := console("cluster"), console("preview")
	from := time.Unix(now-3600, 0).UTC().Format(time.RFC3339)
	call := func(h http.Handler, path, body string) time.Duration {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(w, req)
		d := time.Since(t0)
		if w.Code != 200 {
			b.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		return d
	}
	measure := func(path string, body func(i int) string) (p50, p99 float64) {
		var ds []float64
		for i := range queries + 3 {
			d := call(main, path, body(i))
			if i >= 3 { // the first three warm the caches
				ds = append(ds, float64(d.Microseconds())/1000)
			}
		}
		return pct(ds, 50), pct(ds, 99)
	}
	graphP50, graphP99 := measure("/api/flows/graph", func(int) string { return fmt.Sprintf(`{"from":%q}`, from) })
	drillP50, drillP99 := measure("/api/flows/graph", func(i int) string { return fmt.Sprintf(`{"from":%q,"focus":"ns-%03d"}`, from, i%namespaces) })
	pageP50, pageP99 := measure("/api/flows/logs", func(int) string { return fmt.Sprintf(`{"from":%q,"page_size":100}`, from) })
	nsP50, nsP99 := measure("/api/flows/logs", func(i int) string {
		return fmt.Sprintf(`{"from":%q,"namespace":"ns-%03d","action":"deny","page_size":100}`, from, i%namespaces)
	})

	// A preview: deny app-1's ingress in ns-000, over the last hour.
	change := `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-app-1, namespace: ns-000}
spec:
  tier: default
  order: 1
  selector: app == 'app-1'
  types: [Ingress]
  ingress: [{action: Deny}]
`
	body, _ := json.Marshal(manager.PreviewRequest{Hours: 1, Changes: []string{change}})
	var previews []float64
	var res manager.PreviewResult
	for i := range 4 {
		req := httptest.NewRequest(http.MethodPost, "/api/policies/preview", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		t0 := time.Now()
		preview.ServeHTTP(w, req)
		d := time.Since(t0)
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &res) != nil {
			b.Fatalf("preview: %d %s", w.Code, w.Body)
		}
		if i > 0 {
			previews = append(previews, float64(d.Milliseconds()))
		}
	}
	if res.Flows == 0 || len(res.Changed) == 0 {
		b.Fatalf("the preview replayed %d flows and changed %d groups: %+v", res.Flows, len(res.Changed), res)
	}
	b.Logf("preview: %d flows in %d groups replayed, %d groups change, %d skipped", res.Flows, res.Groups, len(res.Changed), res.Skipped)

	load := firstLoad(b, main, token, strings.TrimPrefix(b.Name(), "BenchmarkConsole/store="))
	js, jsGzip := bundle(b)

	b.ReportMetric(graphP50, "graph-p50-ms")
	b.ReportMetric(graphP99, "graph-p99-ms")
	b.ReportMetric(drillP50, "graph-ns-p50-ms")
	b.ReportMetric(drillP99, "graph-ns-p99-ms")
	b.ReportMetric(pageP50, "flows-p50-ms")
	b.ReportMetric(pageP99, "flows-p99-ms")
	b.ReportMetric(nsP50, "flows-ns-p50-ms")
	b.ReportMetric(nsP99, "flows-ns-p99-ms")
	b.ReportMetric(pct(previews, 50), "preview-ms")
	b.ReportMetric(load, "first-load-ms")
	b.ReportMetric(float64(js)/1024, "js-KiB")
	b.ReportMetric(float64(jsGzip)/1024, "js-gzip-KiB")
	b.ReportMetric(float64(n), "flows")
	b.ReportMetric(0, "ns/op")
}

// ingest sends the flow logs to Linseed for a cluster, in bulk requests
// from four senders.
func ingest(b *testing.B, srv *httptest.Server, cluster string, g flowgen.Gen) {
	const batch, senders = 5000, 4
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			var body []byte
			for {
				k := int(next.Add(1) - 1)
				if k*batch >= g.N {
					return
				}
				body = body[:0]
				for i := k * batch; i < min((k+1)*batch, g.N); i++ {
					body = append(g.Line(body, i), '\n')
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/flows/logs/bulk", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-ndjson")
				req.Header.Set("Authorization", "Bearer bench")
				req.Header.Set("x-cluster-id", cluster)
				resp, err := srv.Client().Do(req)
				if err != nil {
					errs <- err
					return
				}
				var res api.BulkResponse
				err = json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
				if err != nil || res.Failed != 0 {
					errs <- fmt.Errorf("batch %d: %v %+v", k, err, res)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// clusterState makes the cluster the flows come from: the namespaces,
// one running pod per workload (the preview's stand-ins), a policy per
// namespace, and an administrator whose token it returns.
func clusterState(b *testing.B, l *labtest.Lab) string {
	ctx := context.Background()
	kube := l.Client.Kube
	// The pods' node, so that the controller manager keeps them.
	if _, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	for ns := range namespaces {
		name := fmt.Sprintf("ns-%03d", ns)
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		for a := range apps {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%d-6b795849d8-00001", a), Namespace: name,
				Labels: map[string]string{"app": fmt.Sprintf("app-%d", a)}},
				Spec: corev1.PodSpec{NodeName: "node-1", Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, Containers: []corev1.Container{{Name: "c", Image: "none"}}}}
			p, err := labtest.CreatePod(ctx, kube, pod)
			if err != nil {
				b.Fatal(err)
			}
			ip := fmt.Sprintf("10.%d.%d.1", ns, a)
			p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
			if _, err := kube.CoreV1().Pods(name).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		order := 100.0
		np := &v3.NetworkPolicy{TypeMeta: metav1.TypeMeta{Kind: "NetworkPolicy", APIVersion: v3.GroupVersionString},
			ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: name},
			Spec: v3.NetworkPolicySpec{Tier: "default", Order: &order, Selector: "all()", Types: []v3.PolicyType{v3.PolicyTypeIngress},
				Ingress: []v3.Rule{{Action: v3.Allow}}}}
		if _, err := l.Client.Create(ctx, np); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := kube.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bench", Namespace: "default"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	tr, err := kube.CoreV1().ServiceAccounts("default").CreateToken(ctx, "bench", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return tr.Status.Token
}

// firstLoad is the console's first load in Chromium, in milliseconds:
// from navigating to the dashboard (logged in) to its traffic figures
// shown, over the stored flows. 0 if Chromium is not installed.
func firstLoad(b *testing.B, h http.Handler, token, name string) float64 {
	if _, err := exec.LookPath("chromium"); err != nil {
		b.Log("no chromium: the first load is not measured")
		return 0
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	actx, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("chromium"), chromedp.NoSandbox, chromedp.WindowSize(1440, 900), chromedp.Flag("ignore-certificate-errors", true))...)
	defer cancel()
	// The browser starts once; each load is in a new browser context (no
	// cache, no storage), as a new visitor's first.
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatal(err)
	}
	setToken := fmt.Sprintf(`sessionStorage.setItem("calico-console-token", %q); true`, token)
	var loads []float64
	for i := range 4 {
		ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
		tctx, cancelT := context.WithTimeout(ctx, time.Minute)
		// The token as after logging in: sessionStorage is per origin.
		err := chromedp.Do(tctx, chromedp.Navigate(srv.URL+"/health"), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](setToken)(ctx, t)
			return err
		}))
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		err = chromedp.Do(tctx, chromedp.Navigate(srv.URL+"/dashboard?range=1h"), chromedp.WaitVisible(chromedp.CSS(`ul[aria-label="Traffic totals"]`)))
		d := time.Since(t0)
		cancelT()
		cancel()
		if err != nil {
			b.Fatalf("the dashboard did not load: %v", err)
		}
		if i > 0 {
			loads = append(loads, float64(d.Milliseconds()))
		}
	}
	// The service graph at this size, for a person to look at: all
	// namespaces, and one opened (its 15 workloads among the others).
	shots := filepath.Join(cmp.Or(os.Getenv("CALICO_ARTIFACTS"), "/tmp/calico-artifacts"), "console-bench")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		b.Fatal(err)
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	tctx, cancel := context.WithTimeout(bctx, time.Minute)
	defer cancel()
	err := chromedp.Do(tctx, chromedp.Navigate(srv.URL+"/health"), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](setToken)(ctx, t)
		return err
	}), chromedp.Navigate(srv.URL+"/graph?range=1h"), chromedp.WaitVisible(chromedp.CSS(`g.node[aria-label^="namespace ns-003"]`)),
		shot(name+"-graph"), chromedp.DoubleClick(chromedp.CSS(`g.node[aria-label^="namespace ns-003"]`)),
		chromedp.WaitVisible(chromedp.CSS(`g.node[aria-label^="workload app-3-"]`)), shot(name+"-graph-ns-003"))
	if err != nil {
		b.Fatalf("the service graph at 300 workloads: %v", err)
	}
	return pct(loads, 50)
}

// bundle is the size of the console's JavaScript, raw and gzipped.
func bundle(b *testing.B) (raw, gz int) {
	assets := web.Assets()
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		data, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		raw += len(data)
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = w.Write(data)
		_ = w.Close()
		gz += buf.Len()
		return nil
	})
	if err != nil || raw == 0 {
		b.Fatalf("the console is not built into this binary (make build-web): %v", err)
	}
	return raw, gz
}

func pct(xs []float64, p int) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*p+99)/100-1)]
}
