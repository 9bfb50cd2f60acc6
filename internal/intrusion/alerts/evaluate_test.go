package alerts

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/linseed/linseedtest"
)

// A rule over denied flows aggregated by source namespace fires once per
// namespace above its threshold, and not for those at or below it; a
// rule without aggregation fires once per record; a sum compares the
// field's total.
func TestEvaluate(t *testing.T) {
	ctx := context.Background()
	ls := linseedtest.New(t)
	now := time.Now().Truncate(time.Second)
	var recs []any
	add := func(n int, ns, action string, bytes int, age time.Duration) {
		for i := range n {
			end := now.Add(-age).Unix()
			recs = append(recs, map[string]any{"start_time": end - 5, "end_time": end, "source_namespace": ns, "source_name_aggr": "client-*",
				"dest_namespace": "db", "dest_name_aggr": "postgres-*", "dest_port": 5432 + i, "proto": "tcp", "action": action,
				"reporter": "dst", "bytes_out": bytes})
		}
	}
	add(5, "dev", "deny", 100, time.Minute)
	add(2, "prod", "deny", 100, time.Minute)
	add(3, "staging", "allow", 100, time.Minute)
	add(6, "old", "deny", 100, time.Hour) // outside the lookback
	if _, err := ls.Bulk(ctx, "POST", "/flows/logs/bulk", recs); err != nil {
		t.Fatal(err)
	}
	spec := v3.GlobalAlertSpec{DataSet: "flows", Severity: 70, Description: "denied flows from ${source_namespace}: ${count}",
		Query: `action = "deny"`, AggregateBy: []string{"source_namespace"}, Metric: "count", Condition: "gt", Threshold: 3,
		Lookback: &metav1.Duration{Duration: 10 * time.Minute}}
	evs, err := Evaluate(ctx, ls, "denied", spec, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].SourceNamespace != "dev" || evs[0].Description != "denied flows from dev: 5" || evs[0].Severity != 70 || evs[0].Origin != "denied" {
		t.Fatalf("aggregated rule: %+v; want one event, for dev", evs)
	}
	// The next run is another bucket: another event.
	again, err := Evaluate(ctx, ls, "denied", spec, now.Add(time.Minute))
	if err != nil || len(again) != 1 || again[0].ID == evs[0].ID {
		t.Fatalf("a later run: %+v %v; want one new event", again, err)
	}
	// Threshold 1: prod fires too.
	spec.Threshold = 1
	if evs, err = Evaluate(ctx, ls, "denied", spec, now); err != nil || len(evs) != 2 {
		t.Fatalf("threshold 1: %+v %v", evs, err)
	}
	// Two levels, no metric: one event per (namespace, port) with records.
	spec2 := v3.GlobalAlertSpec{DataSet: "flows", Severity: 10, Description: "${source_namespace} to port ${dest_port}", Query: `source_namespace IN {"prod"}`,
		AggregateBy: []string{"source_namespace", "dest_port"}}
	if evs, err = Evaluate(ctx, ls, "ports", spec2, now); err != nil || len(evs) != 2 || evs[0].DestPort == nil {
		t.Fatalf("two levels: %+v %v", evs, err)
	}
	// No aggregation, no metric: each record.
	spec3 := v3.GlobalAlertSpec{DataSet: "flows", Severity: 10, Description: "${source_namespace} was denied", Query: `source_namespace = "prod"`}
	if evs, err = Evaluate(ctx, ls, "each", spec3, now); err != nil || len(evs) != 2 || evs[0].Description != "prod was denied" || evs[0].Time != now.Add(-time.Minute).Unix() {
		t.Fatalf("per record: %+v %v", evs, err)
	}
	// A sum over the whole window, no aggregation.
	spec4 := v3.GlobalAlertSpec{DataSet: "flows", Severity: 10, Description: "${sum} bytes out", Metric: "sum", Field: "bytes_out", Condition: "gte", Threshold: 1000}
	if evs, err = Evaluate(ctx, ls, "bytes", spec4, now); err != nil || len(evs) != 1 || evs[0].Description != "1000 bytes out" {
		t.Fatalf("sum: %+v %v", evs, err)
	}
	spec4.Threshold = 1001
	if evs, err = Evaluate(ctx, ls, "bytes", spec4, now); err != nil || len(evs) != 0 {
		t.Fatalf("sum below the threshold: %+v %v", evs, err)
	}
	// A query Linseed refuses is an error naming it.
	spec.Query = `nosuchfield = "x"`
	if _, err := Evaluate(ctx, ls, "bad", spec, now); err == nil {
		t.Fatal("a query on an unknown field was accepted")
	}
}
