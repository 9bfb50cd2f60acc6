// Package health aggregates the liveness and readiness of a daemon's
// parts and serves them as /liveness and /readiness (200 or 503 with a
// JSON body saying which part is not well and why).
package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Report is one part's latest state.
type Report struct {
	Live   bool
	Ready  bool
	Detail string
}

type reporter struct {
	timeout time.Duration // liveness lapses without a report for this long (0: never)
	last    time.Time
	report  Report
}

// Aggregator collects reports.
type Aggregator struct {
	mu        sync.Mutex
	reporters map[string]*reporter
	now       func() time.Time
}

// New returns an empty aggregator; now is the clock (time.Now if nil).
func New(now func() time.Time) *Aggregator {
	if now == nil {
		now = time.Now
	}
	return &Aggregator{reporters: map[string]*reporter{}, now: now}
}

// Register adds a part that must report at least every timeout (0: no
// deadline) to stay live. A new part starts neither live nor ready; one
// registered again (a controller restarted with new settings) keeps its
// last report and takes the new timeout.
func (a *Aggregator) Register(name string, timeout time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r, ok := a.reporters[name]; ok {
		r.timeout = timeout
		return
	}
	a.reporters[name] = &reporter{timeout: timeout, last: a.now()}
}

// Report records a part's state.
func (a *Aggregator) Report(name string, r Report) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rep := a.reporters[name]
	if rep == nil {
		rep = &reporter{}
		a.reporters[name] = rep
	}
	rep.report, rep.last = r, a.now()
}

// Status is the aggregate, with each part's state.
type Status struct {
	Live  bool              `json:"live"`
	Ready bool              `json:"ready"`
	Parts map[string]Report `json:"parts"`
}

// Status computes the aggregate now.
func (a *Aggregator) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Nothing registered yet is not ready: the daemon is still starting
	// (a rolling update must not move on to the next node).
	st := Status{Live: true, Ready: len(a.reporters) > 0, Parts: map[string]Report{}}
	for _, name := range slices.Sorted(maps.Keys(a.reporters)) {
		r := a.reporters[name]
		rep := r.report
		if r.timeout > 0 && a.now().Sub(r.last) > r.timeout {
			rep.Live = false
			rep.Detail = "no report for " + a.now().Sub(r.last).Round(time.Second).String()
		}
		st.Live = st.Live && rep.Live
		st.Ready = st.Ready && rep.Ready
		st.Parts[name] = rep
	}
	return st
}

// Handler serves /liveness and /readiness.
func (a *Aggregator) Handler() http.Handler {
	mux := http.NewServeMux()
	serve := func(ok func(Status) bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			st := a.Status()
			w.Header().Set("Content-Type", "application/json")
			if !ok(st) {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			_ = json.NewEncoder(w).Encode(st)
		}
	}
	mux.Handle("/liveness", serve(func(s Status) bool { return s.Live }))
	mux.Handle("/readiness", serve(func(s Status) bool { return s.Ready }))
	return mux
}

// WithMetrics is the health endpoints and /metrics (g's) on one handler,
// as the components serve them on their health port.
func (a *Aggregator) WithMetrics(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.Handle("/", a.Handler())
	return mux
}

// Serve runs an HTTP server (health, metrics) on addr until ctx ends; a
// failure to listen is logged, not fatal.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("HTTP endpoint failed", "addr", addr, "err", err)
	}
}
