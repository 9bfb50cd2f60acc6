// Package snapshotter keeps compliance's snapshots: every period it
// lists each snapshotted kind (internal/compliance/snapshot.Resources)
// from the API server and writes the list to Linseed's
// /compliance/snapshots when it differs from the last one written there
// (by fingerprint), so a report can start from the configuration at any
// past moment and replay the audit log from it.
package snapshotter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/calicong/calico/internal/compliance/snapshot"
	"github.com/calicong/calico/internal/linseed/api"
)

// Paths of Linseed's snapshots.
const (
	ListPath = "/compliance/snapshots"
	BulkPath = "/compliance/snapshots/bulk"
)

// DefaultPeriod is how often snapshots are taken (Calico Enterprise's).
const DefaultPeriod = time.Hour

// Linseed is what the snapshotter needs of Linseed (client.Client).
type Linseed interface {
	Post(ctx context.Context, path string, body, out any) error
	Bulk(ctx context.Context, method, path string, records []any) (api.BulkResponse, error)
}

// Snapshotter lists and writes.
type Snapshotter struct {
	Dynamic dynamic.Interface
	Linseed Linseed
	Period  time.Duration
	Metrics *Metrics
	Log     *slog.Logger

	// last is the fingerprint written of each list, by API version and
	// kind (Kubernetes' NetworkPolicyList is not Calico's).
	last map[string]string
}

// Result says what one round did.
type Result struct {
	Written, Unchanged int
	// Kinds are the lists written (PodList, ...).
	Kinds []string
}

// Run takes snapshots until ctx ends: at once, then every Period.
func (s *Snapshotter) Run(ctx context.Context) {
	period := s.Period
	if period <= 0 {
		period = DefaultPeriod
	}
	for {
		res, err := s.Once(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.Log.Warn("snapshot failed; retrying next period", "err", err)
		} else {
			s.Log.Info("snapshot", "written", res.Kinds, "unchanged", res.Unchanged)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

// Once lists every kind and writes the ones that changed.
func (s *Snapshotter) Once(ctx context.Context) (Result, error) {
	var res Result
	if s.last == nil {
		s.last = map[string]string{}
	}
	var docs []any
	var fps []string
	var kinds, keys []string
	for _, r := range snapshot.Resources {
		d, err := s.list(ctx, r)
		if err != nil {
			s.Metrics.failed(r.Kind)
			return res, err
		}
		fp, err := d.Fingerprint()
		if err != nil {
			return res, err
		}
		key := d.APIVersion + "/" + d.Kind
		last, ok := s.last[key]
		if !ok {
			if last, err = s.lastWritten(ctx, d.APIVersion, d.Kind); err != nil {
				return res, err
			}
		}
		if fp == last {
			s.last[key] = fp
			res.Unchanged++
			continue
		}
		docs, fps, kinds, keys = append(docs, d), append(fps, fp), append(kinds, d.Kind), append(keys, key)
	}
	if len(docs) > 0 {
		if _, err := s.Linseed.Bulk(ctx, "POST", BulkPath, docs); err != nil {
			return res, fmt.Errorf("writing %d snapshots to Linseed: %w", len(docs), err)
		}
		for i, k := range kinds {
			s.last[keys[i]] = fps[i]
			s.Metrics.written(k)
		}
	}
	res.Written, res.Kinds = len(docs), kinds
	return res, nil
}

// list reads one kind from the API server as a snapshot document.
func (s *Snapshotter) list(ctx context.Context, r snapshot.Resource) (*snapshot.Doc, error) {
	d := &snapshot.Doc{APIVersion: r.APIVersion(), Kind: r.Kind + "List", Items: []json.RawMessage{}, RequestStartedTimestamp: time.Now().UTC()}
	cont := ""
	for {
		l, err := s.Dynamic.Resource(r.GVR()).List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", r.Resource, err)
		}
		for i := range l.Items {
			it := &l.Items[i]
			it.SetManagedFields(nil)
			b, err := it.MarshalJSON()
			if err != nil {
				return nil, err
			}
			d.Items = append(d.Items, b)
		}
		d.ResourceVersion = l.GetResourceVersion()
		if cont = l.GetContinue(); cont == "" {
			break
		}
	}
	d.RequestCompletedTimestamp = time.Now().UTC()
	return d, nil
}

// lastWritten is the fingerprint of the newest snapshot of a kind in
// Linseed ("" if none): after a restart, an unchanged kind is not
// written again.
func (s *Snapshotter) lastWritten(ctx context.Context, apiVersion, kind string) (string, error) {
	var page api.List
	// Newest first is Linseed's default order (by the record's time).
	p := api.Params{Selector: "apiVersion = " + strconv.Quote(apiVersion) + " AND kind = " + strconv.Quote(kind), MaxPageSize: 1}
	if err := s.Linseed.Post(ctx, ListPath, p, &page); err != nil {
		return "", fmt.Errorf("reading the last %s snapshot: %w", kind, err)
	}
	if len(page.Items) == 0 {
		return "", nil
	}
	var d snapshot.Doc
	if err := json.Unmarshal(page.Items[0], &d); err != nil {
		return "", err
	}
	return d.Fingerprint()
}

// Metrics count snapshots.
type Metrics struct {
	Written  *prometheus.CounterVec
	Failures *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Written:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "compliance_snapshots_written_total", Help: "Snapshots written to Linseed, by kind."}, []string{"kind"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "compliance_snapshot_failures_total", Help: "Failed lists, by kind."}, []string{"kind"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Written, m.Failures} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) written(kind string) {
	if m != nil {
		m.Written.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) failed(kind string) {
	if m != nil {
		m.Failures.WithLabelValues(kind).Inc()
	}
}
