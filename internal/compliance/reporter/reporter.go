// Package reporter generates one compliance report for one interval
// from what Linseed holds: the newest snapshot of each kind at the
// interval's start, the audit events since that snapshot, replayed
// through the policy engine (internal/compliance/replay), with what the
// flow logs say the endpoints talked to; the audit events a report type
// selects; each node's newest CIS benchmark results; then the rendered summary, stored with
// the report's data through Linseed's /compliance/reports.
package reporter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/compliance/replay"
	"github.com/calicong/calico/internal/compliance/report"
	"github.com/calicong/calico/internal/compliance/snapshot"
	"github.com/calicong/calico/internal/linseed/api"
)

// Paths of Linseed's compliance and audit APIs.
const (
	SnapshotsPath   = "/compliance/snapshots"
	ReportsPath     = "/compliance/reports"
	ReportsBulkPath = "/compliance/reports/bulk"
	AuditPath       = "/audit/logs"
)

// Linseed is what the reporter needs of Linseed (client.Client).
type Linseed interface {
	Post(ctx context.Context, path string, body, out any) error
	Each(ctx context.Context, path string, p api.Params, f func(json.RawMessage) error) error
	Bulk(ctx context.Context, method, path string, records []any) (api.BulkResponse, error)
}

// Reporter generates reports.
type Reporter struct {
	Linseed Linseed
	Log     *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// ID names a report's run over an interval.
func ID(name string, start, end time.Time) string {
	return fmt.Sprintf("%s_%s_%s", name, start.UTC().Format("20060102T150405Z"), end.UTC().Format("20060102T150405Z"))
}

// Generate computes a report over [start, end).
func (r *Reporter) Generate(ctx context.Context, rep *v3.GlobalReport, rt *v3.GlobalReportType, start, end time.Time) (*report.ReportData, error) {
	d := &report.ReportData{ReportName: rep.Name, ReportTypeName: rt.Name, ReportSpec: rep.Spec, ReportTypeSpec: rt.Spec,
		StartTime: start.UTC(), EndTime: end.UTC(), GenerationTime: r.now().UTC()}
	if rt.Spec.IncludeEndpointData {
		if err := r.endpoints(ctx, d, rep, start, end); err != nil {
			return nil, err
		}
		if rt.Spec.IncludeEndpointFlowLogData {
			if err := r.flows(ctx, d, start, end); err != nil {
				return nil, err
			}
		}
	}
	if rt.Spec.IncludeCISBenchmarkData {
		if err := r.benchmarks(ctx, d, rep.Spec.CIS, start, end); err != nil {
			return nil, err
		}
	}
	if sel := rt.Spec.AuditEventsSelection; sel != nil {
		if err := r.audit(ctx, d, sel, start, end); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Store renders the report's summary and writes it to Linseed.
func (r *Reporter) Store(ctx context.Context, d *report.ReportData) (report.Stored, error) {
	s := report.Stored{ID: ID(d.ReportName, d.StartTime, d.EndTime), ReportData: *d}
	if t := d.ReportTypeSpec.UISummaryTemplate.Template; t != "" {
		out, err := report.Render("uiSummaryTemplate", t, d)
		if err != nil {
			return s, fmt.Errorf("rendering the summary: %w", err)
		}
		s.UISummary = string(out)
	}
	if _, err := r.Linseed.Bulk(ctx, "POST", ReportsBulkPath, []any{s}); err != nil {
		return s, fmt.Errorf("storing the report: %w", err)
	}
	return s, nil
}

// endpoints replays the interval: the newest snapshot of each kind at
// its start (or, with none yet, its first one within it), then the audit
// events from that snapshot on.
func (r *Reporter) endpoints(ctx context.Context, d *report.ReportData, rep *v3.GlobalReport, start, end time.Time) error {
	scope, err := replay.ScopeOf(rep.Spec.Endpoints)
	if err != nil {
		return err
	}
	var initial []any
	var services []*corev1.Service
	from := start
	for _, res := range snapshot.Resources {
		doc, err := r.snapshotAt(ctx, res, start, end)
		if err != nil {
			return err
		}
		if doc == nil {
			continue
		}
		if doc.RequestCompletedTimestamp.Before(from) {
			from = doc.RequestCompletedTimestamp
		}
		objs, err := doc.Objects()
		if err != nil {
			return err
		}
		for _, o := range objs {
			if s, ok := o.(*corev1.Service); ok {
				services = append(services, s)
			}
		}
		initial = append(initial, objs...)
	}
	if len(initial) == 0 {
		return fmt.Errorf("no snapshot before %s: is calico-compliance snapshotter running?", end.UTC().Format(time.RFC3339))
	}
	var changes []replay.Change
	for _, typ := range []string{"kube", "ee"} {
		p := api.Params{Type: typ, TimeRange: &api.TimeRange{From: from, To: end}, MaxPageSize: 5000,
			Selector: `verb IN {"create", "update", "patch", "delete"}`}
		err := r.Linseed.Each(ctx, AuditPath, p, func(raw json.RawMessage) error {
			c, ok, err := snapshot.Change(raw)
			if err != nil {
				r.log().Warn("an audit event the replay cannot read", "err", err)
				return nil
			}
			if ok {
				changes = append(changes, c)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading %s audit events: %w", typ, err)
		}
	}
	eps, err := replay.Run(initial, changes, start, end, scope, r.Log)
	if err != nil {
		return err
	}
	replay.AddEndpoints(d, eps, services)
	return nil
}

// snapshotAt is a kind's newest snapshot at or before t, else its
// oldest before end (nil if none).
func (r *Reporter) snapshotAt(ctx context.Context, res snapshot.Resource, t, end time.Time) (*snapshot.Doc, error) {
	sel := "apiVersion = " + strconv.Quote(res.APIVersion()) + " AND kind = " + strconv.Quote(res.Kind+"List")
	read := func(p api.Params) (*snapshot.Doc, error) {
		p.Selector, p.MaxPageSize = sel, 1
		var page api.List
		if err := r.Linseed.Post(ctx, SnapshotsPath, p, &page); err != nil {
			return nil, fmt.Errorf("reading the %s snapshot: %w", res.Kind, err)
		}
		if len(page.Items) == 0 {
			return nil, nil
		}
		var d snapshot.Doc
		if err := json.Unmarshal(page.Items[0], &d); err != nil {
			return nil, err
		}
		return &d, nil
	}
	d, err := read(api.Params{TimeRange: &api.TimeRange{To: t.Add(time.Millisecond)}}) // newest first
	if d != nil || err != nil {
		return d, err
	}
	return read(api.Params{TimeRange: &api.TimeRange{To: end}, Sort: []api.SortBy{{Field: "requestCompletedTimestamp"}}})
}

// audit adds the audit events of the selected resources within the
// interval, and their counts.
func (r *Reporter) audit(ctx context.Context, d *report.ReportData, sel *v3.AuditEventsSelection, start, end time.Time) error {
	var terms []string
	for _, res := range sel.Resources {
		var t []string
		for _, f := range []struct{ key, v string }{{"objectRef.resource", res.Resource}, {"objectRef.name", res.Name},
			{"objectRef.namespace", res.Namespace}, {"objectRef.apiGroup", res.APIGroup}, {"objectRef.apiVersion", res.APIVersion}} {
			if f.v != "" {
				t = append(t, f.key+" = "+strconv.Quote(f.v))
			}
		}
		if len(t) > 0 {
			terms = append(terms, "("+strings.Join(t, " AND ")+")")
		}
	}
	selector := `verb IN {"create", "update", "patch", "delete"} AND responseStatus.code < 300`
	if len(terms) > 0 {
		selector += " AND (" + strings.Join(terms, " OR ") + ")"
	}
	for _, typ := range []string{"ee", "kube"} {
		p := api.Params{Type: typ, TimeRange: &api.TimeRange{From: start, To: end}, MaxPageSize: 5000, Selector: selector,
			Sort: []api.SortBy{{Field: "requestReceivedTimestamp"}}}
		err := r.Linseed.Each(ctx, AuditPath, p, func(raw json.RawMessage) error {
			var ev snapshot.AuditEvent
			_ = json.Unmarshal(raw, &ev)
			if ev.DryRun() {
				return nil // changed nothing
			}
			d.AuditEvents = append(d.AuditEvents, raw)
			d.AuditSummary.NumTotal++
			switch ev.Verb {
			case "create":
				d.AuditSummary.NumCreate++
			case "update", "patch":
				d.AuditSummary.NumModify++
			case "delete":
				d.AuditSummary.NumDelete++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading %s audit events: %w", typ, err)
		}
	}
	return nil
}

func (r *Reporter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reporter) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}
