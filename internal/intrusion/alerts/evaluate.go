// Package alerts runs GlobalAlerts: each rule, every period, reads its
// data set in Linseed over the lookback window and turns what it finds
// into security events. Evaluate is one run, without writing (the
// console's "test" shows its result before a rule is saved); Controller
// runs every rule and keeps its status.
package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/internal/intrusion/events"
	"github.com/calicong/calico/internal/linseed/api"
)

// Defaults of a rule's timing, as Calico's.
const (
	DefaultPeriod   = 5 * time.Minute
	DefaultLookback = 10 * time.Minute
)

// MaxRecordEvents bounds the events one run of a rule without
// aggregation makes (one per record).
const MaxRecordEvents = 1000

// maxBuckets bounds the buckets of one aggregation level.
const maxBuckets = 10000

// Poster reads Linseed (client.Client has it).
type Poster interface {
	Post(ctx context.Context, path string, body, out any) error
}

// dataSet is where a rule's records are and how their fields map to an
// event's.
type dataSet struct {
	path     string
	params   func(*api.Params)
	timeOf   func(map[string]any) int64
	toEvent  map[string]string // record field → event field
	describe string
}

var dataSets = map[string]dataSet{
	"flows": {path: "/flows/logs", timeOf: unixField("end_time"), describe: "flow logs", toEvent: map[string]string{
		"source_ip": "source_ip", "source_name": "source_name", "source_name_aggr": "source_name_aggr", "source_namespace": "source_namespace",
		"source_port": "source_port", "dest_ip": "dest_ip", "dest_name": "dest_name", "dest_name_aggr": "dest_name_aggr",
		"dest_namespace": "dest_namespace", "dest_port": "dest_port", "proto": "protocol", "host": "host"}},
	"dns": {path: "/dns/logs", timeOf: rfc3339Field("end_time"), describe: "DNS logs", toEvent: map[string]string{
		"client_ip": "source_ip", "client_name": "source_name", "client_name_aggr": "source_name_aggr", "client_namespace": "source_namespace",
		"qname": "dest_name", "host": "host"}},
	"audit": {path: "/audit/logs", params: func(p *api.Params) { p.Type = "ee" }, timeOf: rfc3339Field("requestReceivedTimestamp"),
		describe: "audit logs", toEvent: map[string]string{
			"user.username": "source_name", "objectRef.namespace": "dest_namespace", "objectRef.name": "dest_name"}},
}

func unixField(f string) func(map[string]any) int64 {
	return func(m map[string]any) int64 {
		v, _ := m[f].(float64)
		return int64(v)
	}
}

func rfc3339Field(f string) func(map[string]any) int64 {
	return func(m map[string]any) int64 {
		s, _ := m[f].(string)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0
		}
		return t.Unix()
	}
}

// Window is the time a run reads: [now-lookback, now).
func Window(spec v3.GlobalAlertSpec, now time.Time) (from, to time.Time) {
	lookback := DefaultLookback
	if spec.Lookback != nil && spec.Lookback.Duration > 0 {
		lookback = spec.Lookback.Duration
	}
	return now.Add(-lookback), now
}

// Evaluate runs a rule once at now and returns the events it makes
// (not written): one per bucket that fires (aggregateBy, or a metric),
// or one per record (neither, at most MaxRecordEvents).
func Evaluate(ctx context.Context, ls Poster, name string, spec v3.GlobalAlertSpec, now time.Time) ([]events.Event, error) {
	ds, ok := dataSets[spec.DataSet]
	if !ok {
		return nil, fmt.Errorf("dataSet %q: flows, dns or audit", spec.DataSet)
	}
	subs := map[string][]string{}
	for _, s := range spec.Substitutions {
		subs[s.Name] = s.Values
	}
	query, err := validation.SubstituteQuery(spec.Query, subs)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	from, to := Window(spec, now)
	p := api.Params{TimeRange: &api.TimeRange{From: from, To: to}, Selector: query}
	if ds.params != nil {
		ds.params(&p)
	}
	r := run{name: name, spec: spec, ds: ds, now: now}
	if len(spec.AggregateBy) == 0 && spec.Metric == "" {
		return r.records(ctx, ls, p)
	}
	return r.buckets(ctx, ls, p)
}

type run struct {
	name string
	spec v3.GlobalAlertSpec
	ds   dataSet
	now  time.Time
}

// records makes an event of each record.
func (r run) records(ctx context.Context, ls Poster, p api.Params) ([]events.Event, error) {
	p.MaxPageSize = MaxRecordEvents
	var page api.List
	if err := ls.Post(ctx, r.ds.path, p, &page); err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.ds.describe, err)
	}
	out := make([]events.Event, 0, len(page.Items))
	for _, raw := range page.Items {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		vars := flatten("", m, map[string]string{})
		e := r.event(events.ID(r.name, string(raw)), vars, raw)
		e.Time = r.ds.timeOf(m)
		out = append(out, e)
	}
	return out, nil
}

// bucket is one combination of the aggregateBy fields' values, with its
// record count and metric.
type bucket struct {
	keys  []any
	count float64
	value *float64
}

// buckets makes an event of each bucket that fires.
func (r run) buckets(ctx context.Context, ls Poster, p api.Params) ([]events.Event, error) {
	var bs []bucket
	var err error
	if len(r.spec.AggregateBy) == 0 {
		bs, err = r.whole(ctx, ls, p)
	} else {
		bs, err = r.grouped(ctx, ls, p)
	}
	if err != nil {
		return nil, err
	}
	var out []events.Event
	for _, b := range bs {
		v := b.count
		if b.value != nil {
			v = *b.value
		}
		if r.spec.Metric != "" && !fires(r.spec.Condition, v, r.spec.Threshold) {
			continue
		}
		if r.spec.Metric == "" && b.count == 0 {
			continue
		}
		vars := map[string]string{"count": num(b.count)}
		rec := map[string]any{"count": b.count}
		for i, f := range r.spec.AggregateBy {
			vars[f] = str(b.keys[i])
			rec[f] = b.keys[i]
		}
		if r.spec.Metric != "" {
			vars[r.spec.Metric] = num(v)
			rec[r.spec.Metric] = v
		}
		raw, _ := json.Marshal(rec)
		keys, _ := json.Marshal(b.keys)
		e := r.event(events.ID(r.name, r.now.UTC().Format(time.RFC3339Nano), string(keys)), vars, raw)
		e.Time = r.now.Unix()
		out = append(out, e)
	}
	return out, nil
}

// whole is the one bucket of a rule with a metric and no aggregateBy.
func (r run) whole(ctx context.Context, ls Poster, p api.Params) ([]bucket, error) {
	var c struct {
		Count int64 `json:"count"`
	}
	if err := ls.Post(ctx, r.ds.path+"/count", p, &c); err != nil {
		return nil, fmt.Errorf("counting %s: %w", r.ds.describe, err)
	}
	b := bucket{count: float64(c.Count)}
	if m := r.spec.Metric; m != "count" && m != "" {
		p.Aggregations = map[string]json.RawMessage{"m": metricAgg(m, r.spec.Field)}
		var res struct {
			Aggregations struct {
				M struct {
					Value *float64 `json:"value"`
				} `json:"m"`
			} `json:"aggregations"`
		}
		if err := ls.Post(ctx, r.ds.path+"/aggregation", p, &res); err != nil {
			return nil, fmt.Errorf("aggregating %s: %w", r.ds.describe, err)
		}
		if c.Count == 0 {
			return nil, nil // no records: min, max and avg have no value
		}
		b.value = res.Aggregations.M.Value
	}
	return []bucket{b}, nil
}

func metricAgg(metric, field string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{metric: map[string]string{"field": field}})
	return b
}

// grouped reads the buckets of nested terms aggregations, one level per
// aggregateBy field, with the metric in the innermost.
func (r run) grouped(ctx context.Context, ls Poster, p api.Params) ([]bucket, error) {
	var inner map[string]json.RawMessage
	if m := r.spec.Metric; m != "" && m != "count" {
		inner = map[string]json.RawMessage{"m": metricAgg(m, r.spec.Field)}
	}
	for i := len(r.spec.AggregateBy) - 1; i >= 0; i-- {
		level := map[string]any{"terms": map[string]any{"field": r.spec.AggregateBy[i], "size": maxBuckets}}
		if inner != nil {
			level["aggs"] = inner
		}
		b, _ := json.Marshal(level)
		inner = map[string]json.RawMessage{"g": b}
	}
	p.Aggregations = inner
	var res struct {
		Aggregations map[string]json.RawMessage `json:"aggregations"`
	}
	if err := ls.Post(ctx, r.ds.path+"/aggregation", p, &res); err != nil {
		return nil, fmt.Errorf("aggregating %s: %w", r.ds.describe, err)
	}
	var out []bucket
	if err := walk(res.Aggregations["g"], nil, len(r.spec.AggregateBy), &out); err != nil {
		return nil, fmt.Errorf("reading the aggregation of %s: %w", r.ds.describe, err)
	}
	return out, nil
}

// walk collects the innermost buckets of nested terms aggregations.
func walk(raw json.RawMessage, keys []any, depth int, out *[]bucket) error {
	var level struct {
		Buckets []map[string]json.RawMessage `json:"buckets"`
	}
	if err := json.Unmarshal(raw, &level); err != nil {
		return err
	}
	for _, b := range level.Buckets {
		var key any
		var count float64
		_ = json.Unmarshal(b["key"], &key)
		_ = json.Unmarshal(b["doc_count"], &count)
		k := append(slices.Clone(keys), key)
		if depth > 1 {
			if err := walk(b["g"], k, depth-1, out); err != nil {
				return err
			}
			continue
		}
		bk := bucket{keys: k, count: count}
		if m, ok := b["m"]; ok {
			var v struct {
				Value *float64 `json:"value"`
			}
			_ = json.Unmarshal(m, &v)
			bk.value = v.Value
			if v.Value == nil {
				continue
			}
		}
		*out = append(*out, bk)
	}
	return nil
}

func fires(cond string, v, threshold float64) bool {
	switch cond {
	case "eq":
		return v == threshold
	case "not_eq":
		return v != threshold
	case "lt":
		return v < threshold
	case "lte":
		return v <= threshold
	case "gt":
		return v > threshold
	case "gte":
		return v >= threshold
	}
	return true // no condition: any bucket with records
}

// event makes a rule's event from the values of its fields.
func (r run) event(id string, vars map[string]string, raw json.RawMessage) events.Event {
	e := events.Event{ID: id, Type: events.TypeGlobalAlert, Origin: r.name, Name: r.name, Severity: r.spec.Severity,
		Description: Substitute(r.spec.Description, vars), Record: raw}
	if r.spec.Summary != "" {
		e.Description = Substitute(r.spec.Summary, vars)
	}
	for from, to := range r.ds.toEvent {
		v, ok := vars[from]
		if !ok || v == "" || v == "-" || v == "<null>" {
			continue
		}
		switch to {
		case "source_ip":
			e.SourceIP = v
		case "source_name":
			e.SourceName = v
		case "source_name_aggr":
			e.SourceNameAggr = v
		case "source_namespace":
			e.SourceNamespace = v
		case "source_port":
			e.SourcePort = intp(v)
		case "dest_ip":
			e.DestIP = v
		case "dest_name":
			e.DestName = v
		case "dest_name_aggr":
			e.DestNameAggr = v
		case "dest_namespace":
			e.DestNamespace = v
		case "dest_port":
			e.DestPort = intp(v)
		case "protocol":
			e.Protocol = v
		case "host":
			e.Host = v
		}
	}
	return e
}

func intp(s string) *int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return nil
	}
	return &n
}

var templateVar = regexp.MustCompile(`\$\{([A-Za-z0-9_.]+)\}`)

// Substitute replaces ${field} in a description with the field's value
// (a variable with no value is left as written).
func Substitute(tpl string, vars map[string]string) string {
	return templateVar.ReplaceAllStringFunc(tpl, func(m string) string {
		if v, ok := vars[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// flatten gives a record's scalar fields by their dotted paths.
func flatten(prefix string, m map[string]any, out map[string]string) map[string]string {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			flatten(key, v, out)
		case []any:
			parts := make([]string, 0, len(v))
			for _, x := range v {
				parts = append(parts, str(x))
			}
			out[key] = strings.Join(parts, ", ")
		default:
			out[key] = str(v)
		}
	}
	return out
}

func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return num(v)
	case bool:
		return strconv.FormatBool(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
