package api

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"sort"

	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/linseed/store"
)

// Aggregations take the part of Elasticsearch's aggregation language that
// Linseed's clients use: "terms" (by a field, the largest groups first,
// "size" of them), nested in each other, and the metrics "sum", "min",
// "max", "avg" and "value_count" at any level. Results have
// Elasticsearch's shape: {"buckets": [{"key", "doc_count", …}]} and
// {"value"}.
type aggSpec struct {
	Terms *struct {
		Field string `json:"field"`
		Size  int    `json:"size"`
	} `json:"terms,omitempty"`
	Sum        *fieldSpec                 `json:"sum,omitempty"`
	Min        *fieldSpec                 `json:"min,omitempty"`
	Max        *fieldSpec                 `json:"max,omitempty"`
	Avg        *fieldSpec                 `json:"avg,omitempty"`
	ValueCount *fieldSpec                 `json:"value_count,omitempty"`
	Aggs       map[string]json.RawMessage `json:"aggs,omitempty"`
	Aggs2      map[string]json.RawMessage `json:"aggregations,omitempty"`
}

type fieldSpec struct {
	Field string `json:"field"`
}

// aggNode is a parsed aggregation.
type aggNode struct {
	name   string
	field  string // terms: the field grouped by
	size   int
	metric store.MetricOp
	count  bool // value_count
	mfield string
	subs   []*aggNode
}

func parseAggs(raw map[string]json.RawMessage, t *logtype.Type, depth int) ([]*aggNode, error) {
	if depth > 5 {
		return nil, badf("aggregations are nested more than 5 deep")
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*aggNode
	for _, name := range names {
		var s aggSpec
		d := json.NewDecoder(bytes.NewReader(raw[name]))
		d.DisallowUnknownFields()
		if err := d.Decode(&s); err != nil {
			return nil, badf("aggregation %q: %v (supported: terms, sum, min, max, avg, value_count, nested with aggs)", name, err)
		}
		n := &aggNode{name: name}
		kinds := 0
		if s.Terms != nil {
			kinds++
			if _, ok := t.Column(s.Terms.Field); !ok {
				return nil, badf("aggregation %q: unknown field %q", name, s.Terms.Field)
			}
			n.field, n.size = s.Terms.Field, s.Terms.Size
			if n.size <= 0 {
				n.size = 10
			}
		}
		for op, f := range map[store.MetricOp]*fieldSpec{store.Sum: s.Sum, store.Min: s.Min, store.Max: s.Max, store.Avg: s.Avg} {
			if f != nil {
				kinds++
				n.metric, n.mfield = op, f.Field
			}
		}
		if s.ValueCount != nil {
			kinds++
			n.count, n.mfield = true, s.ValueCount.Field
		}
		if kinds != 1 {
			return nil, badf("aggregation %q: give exactly one of terms, sum, min, max, avg, value_count", name)
		}
		subs := s.Aggs
		if len(s.Aggs2) > 0 {
			subs = s.Aggs2
		}
		if len(subs) > 0 {
			if n.field == "" {
				return nil, badf("aggregation %q: only terms aggregations have sub-aggregations", name)
			}
			var err error
			if n.subs, err = parseAggs(subs, t, depth+1); err != nil {
				return nil, err
			}
		}
		out = append(out, n)
	}
	return out, nil
}

func (h *handler) aggregate(ctx context.Context, t *logtype.Type, q store.Query, raw map[string]json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, badf("aggregations: none given")
	}
	nodes, err := parseAggs(raw, t, 0)
	if err != nil {
		return nil, err
	}
	return h.aggLevel(ctx, t, q, nil, nodes)
}

// aggLevel computes the aggregations under a bucket path: parents are
// the fields of the enclosing terms aggregations (the store groups by
// them too, and the results are split by their keys).
func (h *handler) aggLevel(ctx context.Context, t *logtype.Type, q store.Query, parents []string, nodes []*aggNode) (map[string]any, error) {
	out := map[string]any{}
	for _, n := range nodes {
		if n.field == "" {
			// A metric of the whole (within parents: handled by terms).
			b, err := h.cfg.Store.Aggregate(ctx, t, q, store.Aggregation{Metrics: metricsOf([]*aggNode{n})})
			if err != nil {
				return nil, err
			}
			out[n.name] = metricValue(n, b, 0)
			continue
		}
		tree, err := h.termsTree(ctx, t, q, parents, n)
		if err != nil {
			return nil, err
		}
		out[n.name] = tree
	}
	return out, nil
}

func metricsOf(nodes []*aggNode) []store.Metric {
	var ms []store.Metric
	for _, n := range nodes {
		if n.field == "" && !n.count {
			ms = append(ms, store.Metric{Op: n.metric, Field: n.mfield})
		}
	}
	return ms
}

func metricValue(n *aggNode, bs []store.Bucket, i int) map[string]any {
	if len(bs) == 0 {
		return map[string]any{"value": 0}
	}
	if n.count {
		return map[string]any{"value": bs[0].Count}
	}
	return map[string]any{"value": bs[0].Metrics[i]}
}

// termsTree is one terms aggregation with its sub-aggregations, grouped
// under every parent bucket.
func (h *handler) termsTree(ctx context.Context, t *logtype.Type, q store.Query, parents []string, n *aggNode) (map[string]any, error) {
	group := append(slices.Clone(parents), n.field)
	metrics := metricsOf(n.subs)
	bs, err := h.cfg.Store.Aggregate(ctx, t, q, store.Aggregation{GroupBy: group, Metrics: metrics, Limit: 10000})
	if err != nil {
		return nil, err
	}
	// Nested terms, computed once for all buckets.
	nested := map[string]map[string]any{}
	for _, sub := range n.subs {
		if sub.field != "" {
			tree, err := h.termsTree(ctx, t, q, group, sub)
			if err != nil {
				return nil, err
			}
			nested[sub.name] = tree
		}
	}
	return h.bucketsUnder(n, bs, len(parents), metrics, nested), nil
}

// bucketsUnder arranges flat groups into buckets keyed by parent
// values: the result maps a parent key (as JSON) to {"buckets": […]}; at
// the top (no parents) it is the {"buckets"} object itself.
func (h *handler) bucketsUnder(n *aggNode, bs []store.Bucket, depth int, metrics []store.Metric, nested map[string]map[string]any) map[string]any {
	byParent := map[string][]map[string]any{}
	var order []string
	for _, b := range bs {
		pk := keyJSON(b.Key[:depth])
		if len(byParent[pk]) >= n.size {
			continue
		}
		if _, ok := byParent[pk]; !ok {
			order = append(order, pk)
		}
		bucket := map[string]any{"key": b.Key[depth], "doc_count": b.Count}
		mi := 0
		for _, sub := range n.subs {
			switch {
			case sub.field != "":
				if m, ok := nested[sub.name][keyJSON(b.Key[:depth+1])]; ok {
					bucket[sub.name] = m
				} else {
					bucket[sub.name] = map[string]any{"buckets": []any{}}
				}
			case sub.count:
				bucket[sub.name] = map[string]any{"value": b.Count}
			default:
				bucket[sub.name] = map[string]any{"value": b.Metrics[mi]}
				mi++
			}
		}
		byParent[pk] = append(byParent[pk], bucket)
	}
	if depth == 0 {
		buckets := byParent[keyJSON([]any{})]
		if buckets == nil {
			buckets = []map[string]any{}
		}
		return map[string]any{"buckets": buckets}
	}
	out := map[string]any{}
	for _, pk := range order {
		out[pk] = map[string]any{"buckets": byParent[pk]}
	}
	return out
}

func keyJSON(k []any) string {
	b, _ := json.Marshal(k)
	return string(b)
}

// l3Flows is the aggregated view of flows (POST /flows): one item per
// action, reporter, protocol, source and destination (type, namespace,
// aggregated name, destination port), with their traffic and counts.
func (h *handler) l3Flows(ctx context.Context, t *logtype.Type, q store.Query) (map[string]any, error) {
	group := []string{"action", "reporter", "proto", "source_type", "source_namespace", "source_name_aggr",
		"dest_type", "dest_namespace", "dest_name_aggr", "dest_port"}
	sums := []string{"packets_in", "packets_out", "bytes_in", "bytes_out", "num_flows", "num_flows_started", "num_flows_completed"}
	var ms []store.Metric
	for _, f := range sums {
		ms = append(ms, store.Metric{Op: store.Sum, Field: f})
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	bs, err := h.cfg.Store.Aggregate(ctx, t, q, store.Aggregation{GroupBy: group, Metrics: ms, Limit: limit})
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(bs))
	for _, b := range bs {
		k := b.Key
		m := func(i int) int64 { return int64(b.Metrics[i]) }
		items = append(items, map[string]any{
			"key": map[string]any{
				"action": k[0], "reporter": k[1], "protocol": k[2], "cluster": q.Cluster,
				"source":      map[string]any{"type": k[3], "namespace": k[4], "aggregated_name": k[5]},
				"destination": map[string]any{"type": k[6], "namespace": k[7], "aggregated_name": k[8], "port": k[9]},
			},
			"log_stats":     map[string]any{"log_count": b.Count, "flow_log_count": m(4), "started": m(5), "completed": m(6)},
			"traffic_stats": map[string]any{"packets_in": m(0), "packets_out": m(1), "bytes_in": m(2), "bytes_out": m(3)},
		})
	}
	return map[string]any{"items": items, "total_hits": len(items), "after_key": nil}, nil
}
