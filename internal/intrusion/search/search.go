package search

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/intrusion/events"
	"github.com/calicong/calico/internal/intrusion/feeds"
	"github.com/calicong/calico/internal/linseed/api"
)

// Defaults of a Searcher's timing.
const (
	DefaultPeriod = time.Minute
	// DefaultOverlap is how far each window reaches back into the last:
	// records arrive some time after they end (the node's flush
	// interval and the shipper's batching).
	DefaultOverlap = 5 * time.Minute
	// DefaultFirstLookback is what the first search after a start reads.
	DefaultFirstLookback = time.Hour
)

// Paths of the logs searched.
const (
	FlowLogsPath = "/flows/logs"
	DNSLogsPath  = "/dns/logs"
)

// Reader reads Linseed's list endpoints (client.Client has it).
type Reader interface {
	Each(ctx context.Context, path string, p api.Params, f func(json.RawMessage) error) error
}

// Searcher searches the logs for the feeds' content, every Period.
type Searcher struct {
	Feeds   *Feeds
	Linseed Reader
	Events  *events.Writer
	// Status changes a feed's status (nil: not written).
	Status                         func(ctx context.Context, feed string, change func(*v3.GlobalThreatFeedStatus)) error
	Period, Overlap, FirstLookback time.Duration
	Metrics                        *Metrics
	Log                            *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Result says what a search found.
type Result struct {
	Flows, DNS int // records read
	Events     events.Result
}

// Run searches until ctx ends: at once, then every Period, each window
// from the end of the last successful one (less the overlap) to now.
func (s *Searcher) Run(ctx context.Context) {
	period := orDefault(s.Period, DefaultPeriod)
	from := s.now().Add(-orDefault(s.FirstLookback, DefaultFirstLookback))
	for {
		to := s.now()
		snap := s.Feeds.snapshot()
		res, err := s.Search(ctx, from.Add(-orDefault(s.Overlap, DefaultOverlap)), to)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log().Warn("threat feed search failed", "err", err)
		} else {
			from = to
			if res.Events.Written > 0 {
				s.log().Info("threat feed search", "flows", res.Flows, "dns", res.DNS, "events", res.Events.Written, "suppressed", res.Events.Suppressed)
			}
		}
		s.writeStatus(ctx, snap.names(), to, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

func (s *Searcher) writeStatus(ctx context.Context, names []string, at time.Time, failed error) {
	if s.Status == nil {
		return
	}
	for _, f := range names {
		err := s.Status(ctx, f, func(st *v3.GlobalThreatFeedStatus) {
			if failed != nil {
				st.ErrorConditions = feeds.SetCondition(st.ErrorConditions, feeds.ConditionSearchFailed, failed.Error())
				return
			}
			t := metav1.NewTime(at)
			st.LastSuccessfulSearch = &t
			st.ErrorConditions = feeds.SetCondition(st.ErrorConditions, feeds.ConditionSearchFailed, "")
		})
		if err != nil && ctx.Err() == nil {
			s.log().Warn("writing a feed's search status", "feed", f, "err", err)
		}
	}
}

// pageSize is how many records one read asks for.
const pageSize = 5000

// Search reads the flow and DNS logs of [from, to) once and writes an
// event for each record that matches a feed.
func (s *Searcher) Search(ctx context.Context, from, to time.Time) (Result, error) {
	start := time.Now()
	snap := s.Feeds.snapshot()
	var res Result
	var evs []events.Event
	flush := func() error {
		if len(evs) == 0 {
			return nil
		}
		r, err := s.Events.Write(ctx, evs)
		res.Events.Written += r.Written
		res.Events.Suppressed += r.Suppressed
		res.Events.Duplicates += r.Duplicates
		evs = evs[:0]
		return err
	}
	p := api.Params{TimeRange: &api.TimeRange{From: from, To: to}, MaxPageSize: pageSize}
	if len(snap.ip) > 0 {
		var fl Flow
		var hits []FlowHit
		err := s.Linseed.Each(ctx, FlowLogsPath, p, func(raw json.RawMessage) error {
			res.Flows++
			fl = Flow{}
			if err := json.Unmarshal(raw, &fl); err != nil {
				return fmt.Errorf("a flow log record: %w", err)
			}
			if fl.NumFlowsStarted == 0 {
				return nil // a connection reported before
			}
			hits = snap.matchFlow(&fl, hits[:0])
			for _, h := range hits {
				evs = append(evs, FlowEvent(h, &fl, raw))
			}
			if len(evs) >= pageSize {
				return flush()
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("searching flow logs: %w", err)
		}
	}
	if len(snap.dom) > 0 {
		var d DNS
		var hits []DNSHit
		err := s.Linseed.Each(ctx, DNSLogsPath, p, func(raw json.RawMessage) error {
			res.DNS++
			d = DNS{}
			if err := json.Unmarshal(raw, &d); err != nil {
				return fmt.Errorf("a DNS log record: %w", err)
			}
			hits = snap.matchDNS(&d, hits[:0])
			for _, h := range hits {
				evs = append(evs, DNSEvent(h, &d, raw))
			}
			if len(evs) >= pageSize {
				return flush()
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("searching DNS logs: %w", err)
		}
	}
	err := flush()
	s.Metrics.searched(res, time.Since(start), err)
	return res, err
}

// FlowEvent is the event of a flow that matched a feed.
func FlowEvent(h FlowHit, fl *Flow, raw json.RawMessage) events.Event {
	desc := fmt.Sprintf("%s connected to %s, listed in threat feed %s", endpoint(fl.SourceNamespace, fl.SourceName, fl.SourceNameAggr, fl.SourceIP),
		endpoint(fl.DestNamespace, fl.DestName, fl.DestNameAggr, fl.DestIP), h.Feed)
	if h.Source {
		desc = fmt.Sprintf("%s, listed in threat feed %s, connected to %s", endpoint(fl.SourceNamespace, fl.SourceName, fl.SourceNameAggr, fl.SourceIP),
			h.Feed, endpoint(fl.DestNamespace, fl.DestName, fl.DestNameAggr, fl.DestIP))
	}
	if h.IP != "" {
		desc += " (address " + h.IP + ")"
	}
	if fl.Action == "deny" {
		desc += "; denied by policy"
	}
	return events.Event{
		ID: events.ID(h.Feed, events.TypeSuspiciousFlow, string(raw)), Time: fl.EndTime,
		Type: events.TypeSuspiciousFlow, Origin: h.Feed, Name: h.Feed, Severity: 100, Description: desc,
		Host: fl.Host, Protocol: fl.Proto,
		SourceIP: value(fl.SourceIP), SourcePort: port(fl.SourcePort), SourceName: value(fl.SourceName), SourceNameAggr: value(fl.SourceNameAggr), SourceNamespace: value(fl.SourceNamespace),
		DestIP: value(fl.DestIP), DestPort: port(fl.DestPort), DestName: value(fl.DestName), DestNameAggr: value(fl.DestNameAggr), DestNamespace: value(fl.DestNamespace),
		AttackVector: "Network", MitreTactic: "Command and Control", MitreIDs: []string{"T1041"},
		Mitigations: []string{"Create a global network policy that denies traffic to and from the feed's GlobalNetworkSet (threatfeed." + h.Feed + ")",
			"Review the source's workload for compromise"},
		Record: raw,
	}
}

// DNSEvent is the event of a lookup that matched a feed.
func DNSEvent(h DNSHit, d *DNS, raw json.RawMessage) events.Event {
	var ip string
	if d.ClientIP != nil {
		ip = *d.ClientIP
	}
	t, _ := time.Parse(time.RFC3339Nano, d.EndTime)
	return events.Event{
		ID: events.ID(h.Feed, events.TypeSuspiciousDNS, string(raw)), Time: t.Unix(),
		Type: events.TypeSuspiciousDNS, Origin: h.Feed, Name: h.Feed, Severity: 100,
		Description: fmt.Sprintf("%s looked up %s, listed in threat feed %s", endpoint(d.ClientNamespace, d.ClientName, d.ClientNameAggr, ip), d.QName, h.Feed),
		Host:        d.Host,
		SourceIP:    value(ip), SourceName: value(d.ClientName), SourceNameAggr: value(d.ClientNameAggr), SourceNamespace: value(d.ClientNamespace),
		DestName:     h.Name,
		AttackVector: "Network", MitreTactic: "Command and Control", MitreIDs: []string{"T1071.004"},
		Mitigations: []string{"Deny egress to the domain with a network policy's destination domains", "Review the client's workload for compromise"},
		Record:      raw,
	}
}

// value drops the log's placeholders for "none".
func value(s string) string {
	if s == "-" || s == "<null>" {
		return ""
	}
	return s
}

func port(p *int64) *int64 {
	if p == nil || *p < 0 {
		return nil
	}
	return p
}

// endpoint names one side of a record for a description: the pod (or
// its aggregate name) and namespace, else the address.
func endpoint(ns, name, aggr, ip string) string {
	n := value(name)
	if n == "" {
		n = value(aggr)
	}
	switch {
	case n != "" && value(ns) != "":
		return ns + "/" + n
	case n != "" && n != "pub" && n != "pvt":
		return n
	case value(ip) != "":
		return ip
	case n != "":
		return strings.ToUpper(n[:1]) + n[1:] + " network"
	}
	return "an unknown endpoint"
}

func (s *Searcher) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Searcher) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Metrics count the searches.
type Metrics struct {
	Records  *prometheus.CounterVec
	Failures prometheus.Counter
	Duration prometheus.Histogram
}

// NewMetrics registers the metrics with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Records:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intrusion_detection_search_records_total", Help: "Log records checked against the threat feeds, by log."}, []string{"log"}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "intrusion_detection_search_failures_total", Help: "Threat feed searches that failed."}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "intrusion_detection_search_duration_seconds", Help: "How long a search of the logs took.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 8)}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Records, m.Failures, m.Duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) searched(r Result, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.Records.WithLabelValues("flows").Add(float64(r.Flows))
	m.Records.WithLabelValues("dns").Add(float64(r.DNS))
	m.Duration.Observe(d.Seconds())
	if err != nil {
		m.Failures.Inc()
	}
}
