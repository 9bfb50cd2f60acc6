// Package events writes security events to Linseed's /events: the
// threat-feed searcher's and the alert rules'. A Writer drops the events
// an AlertException in force suppresses and the ones already stored (an
// event's ID comes from what it reports, so a search that reads a record
// again finds its event there), and stamps each event it writes with an
// increasing generated_time, which is how far a webhook has got.
package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/logquery"
)

// The event types this package's writers produce.
const (
	TypeSuspiciousFlow = "gtf_suspicious_flow"
	TypeSuspiciousDNS  = "gtf_suspicious_dns_query"
	TypeGlobalAlert    = "global_alert"
)

// Paths of Linseed's events API.
const (
	ListPath = "/events"
	BulkPath = "/events/bulk"
)

// Event is a security event, with Linseed's event fields.
type Event struct {
	ID string `json:"id"`
	// Time is when what the event reports happened (unix seconds).
	Time int64 `json:"time"`
	// GeneratedTime is when it was written (unix nanoseconds); the
	// Writer sets it.
	GeneratedTime int64  `json:"generated_time,omitempty"`
	Type          string `json:"type"`
	Description   string `json:"description"`
	// Origin is the feed or alert rule that produced it.
	Origin          string          `json:"origin"`
	Severity        int             `json:"severity"`
	Name            string          `json:"name,omitempty"`
	Host            string          `json:"host,omitempty"`
	SourceIP        string          `json:"source_ip,omitempty"`
	SourcePort      *int64          `json:"source_port,omitempty"`
	SourceName      string          `json:"source_name,omitempty"`
	SourceNameAggr  string          `json:"source_name_aggr,omitempty"`
	SourceNamespace string          `json:"source_namespace,omitempty"`
	DestIP          string          `json:"dest_ip,omitempty"`
	DestPort        *int64          `json:"dest_port,omitempty"`
	DestName        string          `json:"dest_name,omitempty"`
	DestNameAggr    string          `json:"dest_name_aggr,omitempty"`
	DestNamespace   string          `json:"dest_namespace,omitempty"`
	Protocol        string          `json:"protocol,omitempty"`
	Dismissed       bool            `json:"dismissed"`
	AttackVector    string          `json:"attack_vector,omitempty"`
	MitreTactic     string          `json:"mitre_tactic,omitempty"`
	MitreIDs        []string        `json:"mitre_ids,omitempty"`
	Mitigations     []string        `json:"mitigations,omitempty"`
	Record          json.RawMessage `json:"record,omitempty"`
}

// ID makes an event's ID from what identifies it (the origin, the
// record or bucket): the same parts give the same ID.
func ID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Linseed is what a Writer needs of Linseed (client.Client has it).
type Linseed interface {
	Post(ctx context.Context, path string, body, out any) error
	Bulk(ctx context.Context, method, path string, records []any) (api.BulkResponse, error)
}

// Writer writes events, one batch at a time (batches are serialised, so
// generated_time increases in the order events become visible).
type Writer struct {
	Linseed Linseed
	// Exceptions reads the AlertExceptions there are now (nil: none);
	// it is read for every batch, so an exception made just before a
	// run applies to it.
	Exceptions func(ctx context.Context) ([]*v3.AlertException, error)
	Metrics    *Metrics
	Log        *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time

	mu   sync.Mutex
	last int64 // the last generated_time written
	init bool
}

// Result says what a Write did.
type Result struct {
	Written, Suppressed, Duplicates int
}

// eventFields are the fields exceptions and queries select events by.
var eventFields = logtype.All()[logtype.Events].Fields()

// Write writes the events that are neither suppressed nor already
// stored.
func (w *Writer) Write(ctx context.Context, evs []Event) (Result, error) {
	var res Result
	if len(evs) == 0 {
		return res, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	keep := make([]Event, 0, len(evs))
	seen := map[string]bool{}
	excs, err := w.inForce(ctx, now)
	if err != nil {
		w.Metrics.failed()
		return res, fmt.Errorf("reading the alert exceptions: %w", err)
	}
	for _, e := range evs {
		if seen[e.ID] {
			res.Duplicates++
			continue
		}
		seen[e.ID] = true
		if by := suppressedBy(excs, e); by != "" {
			res.Suppressed++
			w.Metrics.suppressed(e.Type)
			w.log().Debug("event suppressed", "id", e.ID, "type", e.Type, "exception", by)
			continue
		}
		keep = append(keep, e)
	}
	if len(keep) == 0 {
		return res, nil
	}
	stored, err := w.stored(ctx, keep)
	if err != nil {
		w.Metrics.failed()
		return res, err
	}
	if !w.init {
		if w.last, err = w.lastGenerated(ctx); err != nil {
			w.Metrics.failed()
			return res, err
		}
		w.init = true
	}
	recs := make([]any, 0, len(keep))
	last := w.last
	for _, e := range keep {
		if stored[e.ID] {
			res.Duplicates++
			continue
		}
		last = max(now.UnixNano(), last+1)
		e.GeneratedTime = last
		recs = append(recs, e)
	}
	if len(recs) == 0 {
		return res, nil
	}
	if _, err := w.Linseed.Bulk(ctx, "POST", BulkPath, recs); err != nil {
		w.Metrics.failed()
		return res, fmt.Errorf("writing %d events to Linseed: %w", len(recs), err)
	}
	w.last = last
	res.Written = len(recs)
	for _, r := range recs {
		w.Metrics.written(r.(Event).Type)
	}
	return res, nil
}

func (w *Writer) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Writer) log() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}

// exception is an AlertException in force, parsed.
type exception struct {
	name  string
	query logquery.Node
}

func (w *Writer) inForce(ctx context.Context, now time.Time) ([]exception, error) {
	if w.Exceptions == nil {
		return nil, nil
	}
	all, err := w.Exceptions(ctx)
	if err != nil {
		return nil, err
	}
	var out []exception
	for _, x := range all {
		if now.Before(x.Spec.StartTime.Time) || (x.Spec.EndTime != nil && !now.Before(x.Spec.EndTime.Time)) {
			continue
		}
		n, err := logquery.Parse(x.Spec.Selector)
		if err == nil {
			err = logquery.Check(x.Spec.Selector, n, eventFields)
		}
		if err != nil {
			// Admission refuses these; one written around it is ignored.
			w.log().Warn("an alert exception's selector is not valid; it suppresses nothing", "exception", x.Name, "err", err)
			continue
		}
		out = append(out, exception{name: x.Name, query: n})
	}
	return out, nil
}

// suppressedBy names the first exception that matches the event.
func suppressedBy(excs []exception, e Event) string {
	if len(excs) == 0 {
		return ""
	}
	fields := Fields(e)
	for _, x := range excs {
		if logquery.Match(x.query, eventFields, func(k string) []string { return fields[k] }) {
			return x.name
		}
	}
	return ""
}

// Fields gives an event's fields as a query sees them.
func Fields(e Event) map[string][]string {
	b, _ := json.Marshal(e)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	out := map[string][]string{}
	for k, v := range m {
		switch v := v.(type) {
		case string:
			out[k] = []string{v}
		case float64:
			out[k] = []string{strconv.FormatFloat(v, 'f', -1, 64)}
		case bool:
			out[k] = []string{strconv.FormatBool(v)}
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					out[k] = append(out[k], s)
				}
			}
		}
	}
	return out
}

// idBatch bounds the IDs one lookup asks for.
const idBatch = 200

// stored says which of the events' IDs Linseed already has.
func (w *Writer) stored(ctx context.Context, evs []Event) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(evs); start += idBatch {
		batch := evs[start:min(start+idBatch, len(evs))]
		terms := make([]logquery.Node, len(batch))
		for i, e := range batch {
			terms[i] = &logquery.Term{Key: "id", Op: logquery.Eq, Value: e.ID}
		}
		var page api.List
		p := api.Params{Selector: (&logquery.Or{Terms: terms}).String(), MaxPageSize: 2 * idBatch}
		if err := w.Linseed.Post(ctx, ListPath, p, &page); err != nil {
			return nil, fmt.Errorf("looking up events already written: %w", err)
		}
		for _, it := range page.Items {
			var e struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(it, &e) == nil {
				out[e.ID] = true
			}
		}
	}
	return out, nil
}

// lastGenerated reads the largest generated_time stored (a previous
// writer's, before a restart or a change of leader).
func (w *Writer) lastGenerated(ctx context.Context) (int64, error) {
	var page api.List
	p := api.Params{MaxPageSize: 1, Sort: []api.SortBy{{Field: "generated_time", Descending: true}}}
	if err := w.Linseed.Post(ctx, ListPath, p, &page); err != nil {
		return 0, fmt.Errorf("reading the last event written: %w", err)
	}
	if len(page.Items) == 0 {
		return 0, nil
	}
	var e struct {
		GeneratedTime int64 `json:"generated_time"`
	}
	_ = json.Unmarshal(page.Items[0], &e)
	return e.GeneratedTime, nil
}

// Metrics count the events written.
type Metrics struct {
	Written, Suppressed *prometheus.CounterVec
	Failures            prometheus.Counter
}

// NewMetrics registers the metrics with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Written:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intrusion_detection_events_written_total", Help: "Security events written to Linseed, by type."}, []string{"type"}),
		Suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intrusion_detection_events_suppressed_total", Help: "Security events an AlertException suppressed, by type."}, []string{"type"}),
		Failures:   prometheus.NewCounter(prometheus.CounterOpts{Name: "intrusion_detection_event_write_failures_total", Help: "Batches of events Linseed did not take."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Written, m.Suppressed, m.Failures} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) written(typ string) {
	if m != nil {
		m.Written.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) suppressed(typ string) {
	if m != nil {
		m.Suppressed.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) failed() {
	if m != nil {
		m.Failures.Inc()
	}
}
