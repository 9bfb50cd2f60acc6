package alerts

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/intrusion/events"
	"github.com/calicong/calico/internal/intrusion/loops"
)

var alertKind, _ = v3.KindFor("GlobalAlert")

// Controller runs every GlobalAlert: at once, then every period, each
// run's events written and its outcome in the rule's status.
type Controller struct {
	Client  *datastore.Client
	Linseed Poster
	Events  *events.Writer
	Metrics *Metrics
	Log     *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time

	loops loops.Set[v3.GlobalAlertSpec]
	mu    sync.Mutex
	seen  map[string]bool
}

// Run watches the rules until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	err := loops.Watch(ctx, c.Client, alertKind, func(a *v3.GlobalAlert) {
		a = a.DeepCopy()
		c.mu.Lock()
		// A rule first seen since this process started ran before it
		// (status.lastExecuted): it runs when its period is up, not at
		// once. One changed since runs at once.
		resume := !c.seen[a.Name]
		if c.seen == nil {
			c.seen = map[string]bool{}
		}
		c.seen[a.Name] = true
		c.mu.Unlock()
		c.loops.Ensure(ctx, a.Name, a.Spec, func(ctx context.Context) { c.run(ctx, a, resume) })
	}, func(name string) {
		c.loops.Stop(name)
		c.mu.Lock()
		delete(c.seen, name)
		c.mu.Unlock()
	})
	c.loops.StopAll()
	return err
}

func (c *Controller) run(ctx context.Context, a *v3.GlobalAlert, resume bool) {
	period := DefaultPeriod
	if a.Spec.Period != nil && a.Spec.Period.Duration > 0 {
		period = a.Spec.Period.Duration
	}
	if last := a.Status.LastExecuted; resume && last != nil {
		if wait := last.Add(period).Sub(c.now()); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
	for {
		c.Once(ctx, a)
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

// Once runs a rule, writes its events and its status.
func (c *Controller) Once(ctx context.Context, a *v3.GlobalAlert) {
	now := c.now()
	start := time.Now()
	evs, err := Evaluate(ctx, c.Linseed, a.Name, a.Spec, now)
	var res events.Result
	if err == nil {
		res, err = c.Events.Write(ctx, evs)
	}
	if ctx.Err() != nil {
		return
	}
	c.Metrics.ran(a.Name, time.Since(start), res.Written, err)
	log := c.Log.With("alert", a.Name)
	if err != nil {
		log.Warn("alert rule run failed", "err", err)
	} else if res.Written > 0 {
		log.Info("alert rule fired", "events", res.Written, "suppressed", res.Suppressed)
	}
	serr := c.Client.ChangeStatus(ctx, alertKind, "", a.Name, func(o v3.Object) {
		st := &o.(*v3.GlobalAlert).Status
		t := metav1.NewTime(now)
		st.LastUpdate, st.LastExecuted, st.Active = &t, &t, true
		if err != nil {
			st.Healthy = false
			st.ErrorConditions = []v3.ErrorCondition{{Type: "RunFailed", Message: err.Error()}}
			return
		}
		st.Healthy, st.ErrorConditions = true, nil
		if res.Written > 0 {
			st.LastEvent = &t
		}
	})
	if serr != nil && ctx.Err() == nil {
		log.Warn("writing an alert rule's status", "err", serr)
	}
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Metrics count the rules' runs.
type Metrics struct {
	Runs     *prometheus.CounterVec
	Events   *prometheus.CounterVec
	Duration prometheus.Histogram
}

// NewMetrics registers the metrics with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Runs:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intrusion_detection_alert_runs_total", Help: "GlobalAlert runs, by rule and result (ok, failed)."}, []string{"alert", "result"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intrusion_detection_alert_events_total", Help: "Events GlobalAlert runs wrote, by rule."}, []string{"alert"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "intrusion_detection_alert_run_duration_seconds", Help: "How long a GlobalAlert run took.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 8)}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Runs, m.Events, m.Duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) ran(alert string, d time.Duration, written int, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.Runs.WithLabelValues(alert, result).Inc()
	m.Events.WithLabelValues(alert).Add(float64(written))
	m.Duration.Observe(d.Seconds())
}
