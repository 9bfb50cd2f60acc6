package shipper

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/linseed/store/sqlite"
	"github.com/calicong/calico/internal/linseed/store/storetest"
	"github.com/calicong/calico/internal/poll"
	"github.com/calicong/calico/internal/shipper/tail"
)

// allow lets any token do anything (the API's own tests check RBAC).
type allow struct{}

func (allow) Authenticate(context.Context, string) (api.User, error) {
	return api.User{Name: "shipper"}, nil
}
func (allow) Authorize(context.Context, api.User, string, string) (bool, error) { return true, nil }

// linseed is a real Linseed API on a real SQLite store, which can be
// made to answer 503 (down).
type linseed struct {
	store store.Store
	url   string
	down  atomic.Bool
	posts atomic.Int64
}

func newLinseed(t *testing.T) *linseed {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "logs.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := api.New(api.Config{Store: st, Authn: allow{}, Authz: allow{}})
	if err != nil {
		t.Fatal(err)
	}
	l := &linseed{store: st}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.posts.Add(1)
		if l.down.Load() {
			http.Error(w, `{"error":"down for maintenance"}`, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	l.url = srv.URL
	return l
}

func (l *linseed) count(t *testing.T, typ string) int64 {
	t.Helper()
	n, err := l.store.Count(context.Background(), logtype.All()[typ], store.Query{Cluster: "cluster"})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

func flows(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 3))
	out := make([]string, n)
	for i := range out {
		out[i] = storetest.FlowLine(rng)
	}
	return out
}

func startShipper(t *testing.T, l *linseed, state string, sources []Source, reg prometheus.Registerer) context.CancelFunc {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("a-token\n"), 0o600)
	s, err := New(Config{Sources: sources, StateDir: state, Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, BatchLines: 100, Registerer: reg,
		Sender: &HTTPSender{URL: l.url, Client: http.DefaultClient, TokenFile: tokenFile}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// TestShipsAcrossRotationAndRestart: every line once, across a rotation,
// a shipper restart (which resends nothing) and a Linseed outage (the
// shipper backs off and catches up).
func TestShipsAcrossRotationAndRestart(t *testing.T) {
	l := newLinseed(t)
	dir, state := t.TempDir(), t.TempDir()
	live := filepath.Join(dir, "flows.log")
	src := []Source{{Name: "flows", Stream: tail.Stream{Dir: dir, Live: "flows.log"}, Route: To(FlowsPath)}}
	all := flows(1, 1000)
	writeLines(t, live, all[:300])
	reg := prometheus.NewRegistry()
	stop := startShipper(t, l, state, src, reg)
	poll.Until(t, 10*time.Second, "the first 300 flow logs in Linseed", func() bool { return l.count(t, logtype.Flows) == 300 })
	os.Rename(live, filepath.Join(dir, "flows-2026-12-06T10-00-00.000.log"))
	writeLines(t, live, all[300:500])
	poll.Until(t, 10*time.Second, "500 flow logs after a rotation", func() bool { return l.count(t, logtype.Flows) == 500 })

	// A restart resends nothing acknowledged: the 100 new lines, and at
	// most the batch that was in flight when the shipper stopped (its
	// answer may have come after it gave up; Linseed stores it once).
	stop()
	posts := l.posts.Load()
	writeLines(t, live, all[500:600])
	reg = prometheus.NewRegistry()
	stop = startShipper(t, l, state, src, reg)
	poll.Until(t, 10*time.Second, "600 flow logs after a restart", func() bool { return l.count(t, logtype.Flows) == 600 })
	if sent := l.posts.Load() - posts; sent > 2 {
		t.Errorf("after a restart the shipper sent %d batches for 100 new lines, want 1, or 2 with the one in flight", sent)
	}

	// Linseed down: nothing lost, nothing duplicated once it is back.
	l.down.Store(true)
	writeLines(t, live, all[600:1000])
	poll.Until(t, 10*time.Second, "the shipper to retry", func() bool { return l.posts.Load()-posts > 5 })
	if n := l.count(t, logtype.Flows); n != 600 {
		t.Fatalf("%d records while Linseed was down", n)
	}
	l.down.Store(false)
	poll.Until(t, 10*time.Second, "the shipper to catch up", func() bool { return l.count(t, logtype.Flows) == 1000 })
	stop()
	if n := l.count(t, logtype.Flows); n != 1000 {
		t.Errorf("%d records, want 1000 exactly", n)
	}
	if f := counterValue(reg, "calico_log_shipper_send_failures_total"); f < 1 {
		t.Errorf("send failures counted: %v", f)
	}
}

func TestAuditSplitAndLostFiles(t *testing.T) {
	l := newLinseed(t)
	dir, state := t.TempDir(), t.TempDir()
	ev := func(id, group string) string {
		return fmt.Sprintf(`{"kind":"Event","auditID":%q,"stage":"ResponseComplete","verb":"create","user":{"username":"alice"},"objectRef":{"resource":"x","apiGroup":%q},"requestReceivedTimestamp":"2026-12-06T10:00:00Z"}`, id, group)
	}
	writeLines(t, filepath.Join(dir, "audit.log"), []string{ev("1", "projectcalico.org"), ev("2", ""), ev("3", "apps"), "not json"})
	reg := prometheus.NewRegistry()
	startShipper(t, l, state, []Source{{Name: "audit", Stream: tail.Stream{Dir: dir, Live: "audit.log"}, Route: AuditRoute}}, reg)
	poll.Until(t, 10*time.Second, "the audit events in Linseed", func() bool {
		return l.count(t, logtype.AuditEE) == 1 && l.count(t, logtype.AuditKube) == 2
	})
	poll.Until(t, 5*time.Second, "the malformed line counted", func() bool {
		return counterValue(reg, "calico_log_shipper_records_rejected_total") == 1
	})
}

func counterValue(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return -1
}
