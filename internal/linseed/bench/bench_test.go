package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/flowgen"
	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/linseed/store/clickhouse"
	"github.com/calicong/calico/internal/linseed/store/clickhouse/chtest"
	"github.com/calicong/calico/internal/linseed/store/sqlite"
)

// The shape of the run: LINSEED_BENCH_FLOWS flow logs (10 million, as
// the issue asks) over the last day, sent in bulk requests of batch
// lines by four senders (as many nodes' shippers send at once), then queries over 100 namespaces.
const (
	batch      = 5000
	senders    = 4
	namespaces = 100
	queries    = 200
	pageSize   = 100
)

func flowsToStore(b *testing.B) int {
	if v := os.Getenv("LINSEED_BENCH_FLOWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < batch {
			b.Fatalf("LINSEED_BENCH_FLOWS=%q: a number of flow logs, at least %d", v, batch)
		}
		return n
	}
	return 10_000_000
}

// BenchmarkLinseed runs, on each store: bulk ingest of flow logs through
// the API over TLS (flows/s), a console's queries over them (one
// namespace, the last hour: the first page with its total, and a count
// by action; p50 and p99 in ms), and the disk each stored flow log takes.
func BenchmarkLinseed(b *testing.B) {
	n := flowsToStore(b)
	b.Run("store=sqlite", func(b *testing.B) {
		dir := b.TempDir()
		st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "logs.db")})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		run(b, st, n, func() int64 {
			var size int64
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if fi, err := e.Info(); err == nil {
					size += fi.Size()
				}
			}
			return size
		}).report(b)
	})
	b.Run("store=clickhouse", func(b *testing.B) {
		srv := chtest.Run(b)
		st, err := clickhouse.Open(context.Background(), clickhouse.Config{Addr: srv.Addr, Database: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		db := ch.OpenDB(&ch.Options{Addr: []string{srv.Addr}})
		defer db.Close()
		run(b, st, n, func() int64 {
			var size int64
			err := db.QueryRow("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = 'bench' AND table = 'flows'").Scan(&size)
			if err != nil {
				b.Fatal(err)
			}
			return size
		}).report(b)
	})
}

// result is one store's figures.
type result struct {
	flowsPerSec              float64
	pageP50, pageP99         float64
	byActionP50, byActionP99 float64
	diskPerFlow              float64
	flows                    int
}

func (r result) report(b *testing.B) {
	b.ReportMetric(r.flowsPerSec, "flows/s")
	b.ReportMetric(r.pageP50, "page-p50-ms")
	b.ReportMetric(r.pageP99, "page-p99-ms")
	b.ReportMetric(r.byActionP50, "count-by-action-p50-ms")
	b.ReportMetric(r.byActionP99, "count-by-action-p99-ms")
	b.ReportMetric(r.diskPerFlow, "disk-B/flow")
	b.ReportMetric(float64(r.flows), "flows-stored")
}

// TestBenchShape runs the benchmark's whole path on a few batches: every
// generated line is accepted and distinct, and the queries find them.
func TestBenchShape(t *testing.T) {
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "logs.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := run(t, st, 3*batch, func() int64 { return 1 })
	if r.flowsPerSec <= 0 || r.pageP99 <= 0 || r.byActionP99 <= 0 {
		t.Errorf("%+v", r)
	}
}

func run(b testing.TB, st store.Store, n int, disk func() int64) result {
	h, err := api.New(api.Config{Store: st, Authn: allowAll{}, Authz: allowAll{}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = false
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS12
	g := flowgen.Gen{Now: time.Now().Unix(), N: n, Span: 86400, Namespaces: namespaces, Apps: 20}

	// Ingest: every batch through POST /flows/logs/bulk, acknowledged.
	var next, stored atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			var body []byte
			for {
				k := int(next.Add(1) - 1)
				if k*batch >= n {
					return
				}
				body = body[:0]
				for i := k * batch; i < min((k+1)*batch, n); i++ {
					body = g.Line(body, i)
					body = append(body, '\n')
				}
				var res api.BulkResponse
				if err := post(client, srv.URL+"/api/v1/flows/logs/bulk", "application/x-ndjson", body, &res); err != nil {
					errs <- err
					return
				}
				if res.Failed != 0 || res.Duplicates != 0 {
					errs <- fmt.Errorf("batch %d: %+v", k, res)
					return
				}
				if s := stored.Add(int64(res.Succeeded)); s/1_000_000 != (s-int64(res.Succeeded))/1_000_000 {
					fmt.Fprintf(os.Stderr, "%s: %d flow logs stored, %.0f/s\n", b.Name(), s, float64(s)/time.Since(start).Seconds())
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	ingest := time.Since(start)
	var count struct{ Count int64 }
	if err := post(client, srv.URL+"/api/v1/flows/logs/count", "application/json", []byte("{}"), &count); err != nil {
		b.Fatal(err)
	}
	if count.Count != int64(n) {
		b.Fatalf("stored %d flow logs, sent %d", count.Count, n)
	}

	// The console's queries: one namespace over the last hour.
	rng := rand.New(rand.NewPCG(7, 7))
	from := time.Unix(g.Now-3600, 0).UTC().Format(time.RFC3339)
	filter := func() string {
		return fmt.Sprintf(`"time_range":{"from":%q},"namespace_matches":[{"type":"any","namespaces":["ns-%03d"]}]`, from, rng.IntN(namespaces))
	}
	var page, byAction []float64
	var hits int64
	for i := range queries + 10 {
		t0 := time.Now()
		var list struct {
			Items     []json.RawMessage `json:"items"`
			TotalHits int64             `json:"total_hits"`
		}
		if err := post(client, srv.URL+"/api/v1/flows/logs", "application/json",
			fmt.Appendf(nil, `{%s,"max_page_size":%d}`, filter(), pageSize), &list); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if len(list.Items) != min(pageSize, int(list.TotalHits)) || list.TotalHits == 0 {
			b.Fatalf("a page of %d flow logs of %d", len(list.Items), list.TotalHits)
		}
		var agg map[string]any
		if err := post(client, srv.URL+"/api/v1/flows/logs/aggregation", "application/json",
			fmt.Appendf(nil, `{%s,"aggregations":{"by_action":{"terms":{"field":"action"}}}}`, filter()), &agg); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if i >= 10 { // the first ten warm the caches
			page = append(page, ms(t1.Sub(t0)))
			byAction = append(byAction, ms(t2.Sub(t1)))
			hits += list.TotalHits
		}
	}
	b.Logf("%d flow logs in %v; a namespace's last hour holds %d on average", n, ingest.Round(time.Second), hits/int64(len(page)))
	return result{flowsPerSec: float64(n) / ingest.Seconds(),
		pageP50: pct(page, 50), pageP99: pct(page, 99), byActionP50: pct(byAction, 50), byActionP99: pct(byAction, 99),
		diskPerFlow: float64(disk()) / float64(n), flows: n}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(xs []float64, p int) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func post(c *http.Client, url, contentType string, body []byte, out any) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer bench")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, data)
	}
	return json.Unmarshal(data, out)
}

type allowAll struct{}

func (allowAll) Authenticate(context.Context, string) (api.User, error) {
	return api.User{Name: "bench"}, nil
}

func (allowAll) Authorize(context.Context, api.User, string, string) (bool, error) { return true, nil }

// gen writes flow log i of n as calico-node writes them: every field,
