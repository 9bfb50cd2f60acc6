package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/intrusion/events"
	"github.com/calicong/calico/internal/intrusion/loops"
	"github.com/calicong/calico/internal/intrusion/secretref"
	"github.com/calicong/calico/internal/linseed/api"
)

var webhookKind, _ = v3.KindFor("SecurityEventWebhook")

// Defaults of a Controller's timing.
const (
	DefaultPoll = 5 * time.Second
	// FirstRetry and MaxRetry bound the back-off after a failed delivery.
	FirstRetry = time.Second
	MaxRetry   = 5 * time.Minute
)

// Poster reads Linseed (client.Client has it).
type Poster interface {
	Post(ctx context.Context, path string, body, out any) error
}

// Controller delivers events to every enabled webhook.
type Controller struct {
	Client  *datastore.Client
	Linseed Poster
	// Namespace holds the Secrets and ConfigMaps config values refer to.
	Namespace string
	HTTP      *http.Client
	// Poll is how often Linseed is read for new events (DefaultPoll).
	Poll    time.Duration
	Metrics *Metrics
	Log     *slog.Logger

	loops loops.Set[v3.SecurityEventWebhookSpec]
}

// Run watches the webhooks until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	err := loops.Watch(ctx, c.Client, webhookKind, func(w *v3.SecurityEventWebhook) {
		if w.Spec.State == "Disabled" {
			c.loops.Stop(w.Name)
			return
		}
		w = w.DeepCopy()
		c.loops.Ensure(ctx, w.Name, w.Spec, func(ctx context.Context) { c.run(ctx, w.Name, w.Spec) })
	}, c.loops.Stop)
	c.loops.StopAll()
	return err
}

// run delivers one webhook's events until ctx ends.
func (c *Controller) run(ctx context.Context, name string, spec v3.SecurityEventWebhookSpec) {
	log := c.Log.With("webhook", name)
	var cursor int64
	for {
		// Where delivery got to: the status, or (new) the webhook's
		// creation; events from before it was made are not sent.
		obj, err := c.Client.Get(ctx, webhookKind, "", name)
		if err == nil {
			w := obj.(*v3.SecurityEventWebhook)
			cursor = w.Status.DeliveredUpTo
			if cursor == 0 {
				cursor = w.CreationTimestamp.UnixNano()
			}
			break
		}
		if !wait(ctx, FirstRetry) {
			return
		}
	}
	poll := c.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	retry := FirstRetry
	for {
		next, err := c.deliver(ctx, name, spec, cursor, log)
		if ctx.Err() != nil {
			return
		}
		delay := poll
		if err != nil {
			log.Warn("webhook delivery failed; retrying", "err", err, "retry", retry)
			c.setReady(ctx, name, metav1.ConditionFalse, "DeliveryFailed", err.Error(), 0)
			delay, retry = retry, min(2*retry, MaxRetry)
		} else {
			retry = FirstRetry
		}
		if next > cursor {
			cursor = next
			continue // there may be more
		}
		if !wait(ctx, delay) {
			return
		}
	}
}

func wait(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// batch is how many events one read delivers.
const batch = 100

// deliver sends the events after cursor, in order, until one fails; it
// returns the new cursor.
func (c *Controller) deliver(ctx context.Context, name string, spec v3.SecurityEventWebhookSpec, cursor int64, log *slog.Logger) (int64, error) {
	sel := "generated_time > " + strconv.FormatInt(cursor, 10)
	if spec.Query != "" {
		sel += " AND (" + spec.Query + ")"
	}
	var page api.List
	p := api.Params{Selector: sel, MaxPageSize: batch, Sort: []api.SortBy{{Field: "generated_time"}}}
	if err := c.Linseed.Post(ctx, events.ListPath, p, &page); err != nil {
		return cursor, fmt.Errorf("reading events: %w", err)
	}
	if len(page.Items) == 0 {
		return cursor, nil
	}
	cfg, err := c.config(ctx, spec.Config)
	if err != nil {
		return cursor, err
	}
	for _, raw := range page.Items {
		var e events.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return cursor, fmt.Errorf("an event: %w", err)
		}
		// A delivery under way finishes (within the client's timeout)
		// even when the controller is stopping, so that it is recorded
		// and not sent again after a restart.
		if ctx.Err() != nil {
			return cursor, ctx.Err()
		}
		req, err := request(context.WithoutCancel(ctx), spec.Consumer, cfg, e)
		if err != nil {
			return cursor, err
		}
		if spec.State == "Debug" {
			log.Info("webhook in Debug state: not sent", "event", e.ID, "type", e.Type, "url", req.URL.Redacted())
		} else {
			start := time.Now()
			err := send(c.client(), req)
			c.Metrics.delivered(name, time.Since(start), err)
			if err != nil {
				return cursor, err
			}
		}
		cursor = e.GeneratedTime
		// Recorded after every event, even when the controller is
		// stopping meanwhile: a restart sends none again.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = c.setReady(rctx, name, metav1.ConditionTrue, "Delivering", "the last delivery succeeded", cursor)
		cancel()
		if err != nil {
			return cursor, fmt.Errorf("recording the delivery: %w", err)
		}
	}
	return cursor, nil
}

// config resolves the webhook's settings.
func (c *Controller) config(ctx context.Context, vars []v3.SecurityEventWebhookConfigVar) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vars {
		if v.ValueFrom == nil {
			out[v.Name] = v.Value
			continue
		}
		val, ok, err := secretref.Value(ctx, c.Client.Kube, c.Namespace, v.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", v.Name, err)
		}
		if ok {
			out[v.Name] = val
		}
	}
	if out["url"] == "" {
		return nil, fmt.Errorf("config: no url")
	}
	return out, nil
}

func (c *Controller) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// setReady writes the Ready condition, and the cursor when it moved.
func (c *Controller) setReady(ctx context.Context, name string, status metav1.ConditionStatus, reason, msg string, cursor int64) error {
	return c.Client.ChangeStatus(ctx, webhookKind, "", name, func(o v3.Object) {
		w := o.(*v3.SecurityEventWebhook)
		meta.SetStatusCondition(&w.Status.Conditions, metav1.Condition{Type: "Ready", Status: status, Reason: reason, Message: msg,
			ObservedGeneration: w.Generation})
		if cursor > w.Status.DeliveredUpTo {
			now := metav1.Now()
			w.Status.DeliveredUpTo, w.Status.LastDelivery = cursor, &now
		}
	})
}

// Metrics count deliveries.
type Metrics struct {
	Deliveries *prometheus.CounterVec
	Duration   prometheus.Histogram
}

// NewMetrics registers the metrics with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intrusion_detection_webhook_deliveries_total",
			Help: "Event deliveries to SecurityEventWebhooks, by webhook and result (ok, failed)."}, []string{"webhook", "result"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "intrusion_detection_webhook_delivery_duration_seconds",
			Help: "How long one delivery took.", Buckets: prometheus.ExponentialBuckets(0.005, 4, 8)}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.Deliveries, m.Duration} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) delivered(name string, d time.Duration, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.Deliveries.WithLabelValues(name, result).Inc()
	m.Duration.Observe(d.Seconds())
}
