// Package storetest is the conformance suite every log store backend
// runs (store/sqlite, store/clickhouse): writes, duplicates, clusters,
// time ranges, the query language (checked against logquery.Match on
// random records and queries), paging, counts, aggregation, updates,
// deletes, retention and reopening.
package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/logquery"
)

// Harness opens stores for the suite.
type Harness struct {
	// Open makes an empty store; the suite closes it.
	Open func(t testing.TB) store.Store
	// Reopen closes s and opens the same data again.
	Reopen func(t testing.TB, s store.Store) store.Store
}

// Base is the day the suite's records are on (and the two after it).
var Base = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

var (
	namespaces = []string{"default", "demo", "kube-system", "data", "-"}
	names      = []string{"frontend-5d8f9-abcde", "frontend-5d8f9-fghij", "backend-7c6b5-klmno", "db-0", "-", "pub", "pvt"}
	policies   = []string{"0|default|demo/default.allow-web|allow|0", "0|security|security.deny-db|deny|0",
		"0|__PROFILE__|__PROFILE__.kns.demo|allow|0", "1|default|demo/knp.default.app|deny|-1", "0|security|security.pass|pass|1"}
	labels = []string{"app=frontend", "app=backend", "app=db", "tier=web", "pod-template-hash=5d8f9"}
)

// FlowLine is a random flow log record's JSON line, at a time within
// the three days from Base.
func FlowLine(rng *rand.Rand) string {
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	subset := func(xs []string) string {
		var out []string
		for _, x := range xs {
			if rng.IntN(3) == 0 {
				out = append(out, strconv.Quote(x))
			}
		}
		return "[" + strings.Join(out, ",") + "]"
	}
	orNull := func(s string) string {
		if rng.IntN(5) == 0 {
			return "null"
		}
		return s
	}
	end := Base.Unix() + rng.Int64N(3*86400)
	return fmt.Sprintf(`{"start_time":%d,"end_time":%d,"source_ip":%s,"source_name":%q,"source_name_aggr":"x","source_namespace":%q,`+
		`"source_port":%s,"source_type":"wep","source_labels":%s,"dest_ip":"10.0.%d.%d","dest_name":%q,"dest_namespace":%q,`+
		`"dest_port":%d,"dest_type":"wep","proto":%q,"action":%q,"reporter":%q,"policies":{"enforced_policies":%s,"pending_policies":[]},`+
		`"bytes_in":%d,"bytes_out":%d,"num_flows":1,"packets_in":%d,"host":%q}`,
		end-15, end, orNull(fmt.Sprintf(`"10.0.%d.%d"`, rng.IntN(3), rng.IntN(250))), pick(names), pick(namespaces),
		orNull(strconv.Itoa(30000+rng.IntN(20000))), orNull(`{"labels":`+subset(labels)+`}`), rng.IntN(3), rng.IntN(250),
		pick(names), pick(namespaces), []int{53, 80, 443, 5432, 8080}[rng.IntN(5)], pick([]string{"tcp", "udp", "icmp"}),
		pick([]string{"allow", "deny"}), pick([]string{"src", "dst"}), subset(policies),
		rng.Int64N(1_000_000), rng.Int64N(100_000), rng.Int64N(1000), pick([]string{"node-1", "node-2", "node-3"}))
}

// Rows decodes lines.
func Rows(t testing.TB, typ *logtype.Type, lines []string) []logtype.Row {
	t.Helper()
	out := make([]logtype.Row, len(lines))
	for i, l := range lines {
		r, err := typ.Decode([]byte(l))
		if err != nil {
			t.Fatalf("line %d: %v\n%s", i, err, l)
		}
		out[i] = r
	}
	return out
}

func flows(t testing.TB, seed uint64, n int) (*logtype.Type, []logtype.Row) {
	typ := logtype.All()[logtype.Flows]
	rng := rand.New(rand.NewPCG(seed, 1))
	lines := make([]string, n)
	seen := map[string]bool{}
	for i := range lines {
		l := FlowLine(rng)
		for seen[l] {
			l = FlowLine(rng)
		}
		seen[l] = true
		lines[i] = l
	}
	return typ, Rows(t, typ, lines)
}

func encode(typ *logtype.Type, rows []logtype.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = string(typ.Encode(nil, r))
	}
	return out
}

// listAll pages through a query and returns every row.
func listAll(t testing.TB, s store.Store, typ *logtype.Type, q store.Query) []logtype.Row {
	t.Helper()
	var out []logtype.Row
	for pages := 0; ; pages++ {
		p, err := s.List(context.Background(), typ, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Rows...)
		if p.Next == nil {
			return out
		}
		if pages > 100000 {
			t.Fatal("paging does not end")
		}
		q.After = p.Next
	}
}

func write(t testing.TB, s store.Store, typ *logtype.Type, cluster string, rows []logtype.Row) store.WriteResult {
	t.Helper()
	res, err := s.Write(context.Background(), typ, cluster, rows)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Run("WriteAndRead", func(t *testing.T) { testWriteAndRead(t, h) })
	t.Run("Selectors", func(t *testing.T) { testSelectors(t, h) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, h) })
	t.Run("Aggregate", func(t *testing.T) { testAggregate(t, h) })
	t.Run("UpdateAndDelete", func(t *testing.T) { testUpdateAndDelete(t, h) })
	t.Run("Retain", func(t *testing.T) { testRetain(t, h) })
}

func testWriteAndRead(t *testing.T, h Harness) {
	s := h.Open(t)
	typ, rows := flows(t, 1, 300)
	if res := write(t, s, typ, "cluster", rows); res.Stored != 300 || res.Duplicates != 0 {
		t.Errorf("first write: %+v", res)
	}
	// A retry of part of it stores nothing again.
	if res := write(t, s, typ, "cluster", rows[100:150]); res.Stored != 0 || res.Duplicates != 50 {
		t.Errorf("a repeated write: %+v, want 50 duplicates", res)
	}
	// Another cluster's records stay apart.
	_, other := flows(t, 2, 40)
	write(t, s, typ, "other", other)

	got := listAll(t, s, typ, store.Query{Cluster: "cluster", Limit: 1000})
	if len(got) != 300 {
		t.Fatalf("listed %d records of 300", len(got))
	}
	want := slices.Clone(rows)
	slices.SortFunc(want, func(a, b logtype.Row) int { return newestFirst(a, b) })
	if g, w := encode(typ, got), encode(typ, want); !slices.Equal(g, w) {
		for i := range g {
			if g[i] != w[i] {
				t.Fatalf("record %d differs:\n got %s\nwant %s", i, g[i], w[i])
			}
		}
	}
	for i := 1; i < len(got); i++ {
		if newestFirst(got[i-1], got[i]) > 0 {
			t.Fatalf("records %d and %d are not newest first", i-1, i)
		}
	}
	if n, err := s.Count(context.Background(), typ, store.Query{Cluster: "other"}); err != nil || n != 40 {
		t.Errorf("the other cluster has %d records (%v), want 40", n, err)
	}
	// Time ranges: the middle day only.
	q := store.Query{Cluster: "cluster", From: Base.Add(24 * time.Hour), To: Base.Add(48 * time.Hour)}
	var mid int
	for _, r := range rows {
		if r.Time >= q.From.UnixMilli() && r.Time < q.To.UnixMilli() {
			mid++
		}
	}
	if got := listAll(t, s, typ, q); len(got) != mid || mid == 0 {
		t.Errorf("the middle day: %d records, want %d", len(got), mid)
	}
	// Reopened, everything is still there.
	s = h.Reopen(t, s)
	if n, err := s.Count(context.Background(), typ, store.Query{Cluster: "cluster"}); err != nil || n != 300 {
		t.Errorf("after reopening: %d records (%v), want 300", n, err)
	}
}

func newestFirst(a, b logtype.Row) int {
	switch {
	case a.Time != b.Time:
		return -cmpInt(a.Time, b.Time)
	default:
		return -cmpInt(a.ID, b.ID)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// getter is logquery's view of a row.
func getter(typ *logtype.Type, r logtype.Row) func(string) []string {
	return func(key string) []string {
		i, ok := typ.ColumnIndex(key)
		if !ok {
			return nil
		}
		switch v := r.Values[i].(type) {
		case string:
			return []string{v}
		case int64:
			return []string{strconv.FormatInt(v, 10)}
		case float64:
			return []string{strconv.FormatFloat(v, 'g', -1, 64)}
		case bool:
			return []string{strconv.FormatBool(v)}
		case []string:
			return v
		}
		return nil
	}
}

// randomQuery builds a query over the flow fields the generator varies.
func randomQuery(rng *rand.Rand, depth int) string {
	if depth > 0 && rng.IntN(3) > 0 {
		switch rng.IntN(3) {
		case 0:
			return "(" + randomQuery(rng, depth-1) + " AND " + randomQuery(rng, depth-1) + ")"
		case 1:
			return "(" + randomQuery(rng, depth-1) + " OR " + randomQuery(rng, depth-1) + ")"
		default:
			return "NOT " + randomQuery(rng, depth-1)
		}
	}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	q := func(s string) string { return strconv.Quote(s) }
	switch rng.IntN(9) {
	case 0:
		return "action " + pick([]string{"=", "!="}) + " " + pick([]string{"allow", "deny"})
	case 1:
		return pick([]string{"source_namespace", "dest_namespace"}) + " " + pick([]string{"=", "!=", "<", ">="}) + " " + q(pick(append(namespaces, "")))
	case 2:
		return "dest_port " + pick([]string{"=", "!=", "<", "<=", ">", ">="}) + " " + pick([]string{"80", "443", "5432", "1e3"})
	case 3:
		return "bytes_in " + pick([]string{"<", ">="}) + " " + strconv.Itoa(rng.IntN(1_000_000))
	case 4:
		return "policies.enforced_policies " + pick([]string{"=", "!="}) + " " + q(pick(policies))
	case 5:
		return "policies.enforced_policies " + pick([]string{"IN", "NOTIN"}) + " {" + q(pick([]string{"*|deny|*", "*security*", "0|default|?emo*"})) + "}"
	case 6:
		return "source_name " + pick([]string{"IN", "NOTIN"}) + " {" + q(pick([]string{"frontend-*", "db-?", "p?t", "*", "backend-7c6b5-klmno"})) + ", " + q(pick(names)) + "}"
	case 7:
		return "source_labels.labels " + pick([]string{"=", "IN", "NOTIN"}) + " " + map[bool]string{true: q(pick(labels)), false: "{" + q("app=*") + "}"}[rng.IntN(2) == 0]
	default:
		return "source_port " + pick([]string{"=", "!=", ">"}) + " " + strconv.Itoa(30000+rng.IntN(20000)) + " OR source_ip = \"\""
	}
}

func testSelectors(t *testing.T, h Harness) {
	s := h.Open(t)
	typ, rows := flows(t, 3, 400)
	write(t, s, typ, "cluster", rows)
	rng := rand.New(rand.NewPCG(4, 5))
	checked := 0
	for i := 0; i < 300; i++ {
		text := randomQuery(rng, 3)
		if strings.Contains(text, " = {") || strings.Contains(text, " IN \"") || strings.Contains(text, " NOTIN \"") {
			continue // a list value after = or a single value after IN: not a query
		}
		n, err := logquery.Parse(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if err := logquery.Check(text, n, typ.Fields()); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		var want []int64
		for _, r := range rows {
			if logquery.Match(n, typ.Fields(), getter(typ, r)) {
				want = append(want, r.ID)
			}
		}
		got := listAll(t, s, typ, store.Query{Cluster: "cluster", Where: n, Limit: 10000})
		ids := make([]int64, len(got))
		for j, r := range got {
			ids[j] = r.ID
		}
		slices.Sort(ids)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("%s: the store selects %d records, the query language %d", text, len(ids), len(want))
		}
		cnt, err := s.Count(context.Background(), typ, store.Query{Cluster: "cluster", Where: n})
		if err != nil || cnt != int64(len(want)) {
			t.Fatalf("%s: count %d (%v), want %d", text, cnt, err, len(want))
		}
		checked++
	}
	if checked < 200 {
		t.Errorf("only %d queries checked", checked)
	}
}

func testPaging(t *testing.T, h Harness) {
	s := h.Open(t)
	typ, rows := flows(t, 6, 250)
	write(t, s, typ, "cluster", rows)
	for _, sort := range [][]store.Sort{nil, {{Field: "bytes_in", Descending: true}}, {{Field: "source_namespace"}, {Field: "dest_port", Descending: true}}} {
		q := store.Query{Cluster: "cluster", Sort: sort, Limit: 7}
		p, err := s.List(context.Background(), typ, q)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 250 || len(p.Rows) != 7 || p.Next == nil {
			t.Errorf("sort %v: first page %d rows, total %d, next %v", sort, len(p.Rows), p.Total, p.Next)
		}
		got := listAll(t, s, typ, q)
		seen := map[int64]bool{}
		for _, r := range got {
			if seen[r.ID] {
				t.Fatalf("sort %v: a record came twice", sort)
			}
			seen[r.ID] = true
		}
		if len(got) != 250 {
			t.Errorf("sort %v: %d records paged, want 250", sort, len(got))
		}
		// In order.
		for i := 1; i < len(got); i++ {
			if c := compareBy(typ, sort, got[i-1], got[i]); c > 0 {
				t.Fatalf("sort %v: records %d and %d out of order", sort, i-1, i)
			}
		}
	}
	if _, err := s.List(context.Background(), typ, store.Query{Cluster: "cluster", Sort: []store.Sort{{Field: "policies.enforced_policies"}}}); err == nil {
		t.Error("sorting by a list was accepted")
	}
}

func compareBy(typ *logtype.Type, sort []store.Sort, a, b logtype.Row) int {
	for _, o := range sort {
		i, _ := typ.ColumnIndex(o.Field)
		var c int
		if typ.Columns[i].Kind == logtype.Text {
			x, _ := a.Values[i].(string)
			y, _ := b.Values[i].(string)
			c = strings.Compare(x, y)
		} else {
			x, _ := a.Values[i].(int64)
			y, _ := b.Values[i].(int64)
			c = cmpInt(x, y)
		}
		if o.Descending {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return newestFirst(a, b)
}

func testAggregate(t *testing.T, h Harness) {
	s := h.Open(t)
	typ, rows := flows(t, 7, 300)
	write(t, s, typ, "cluster", rows)
	n, _ := logquery.Parse("dest_namespace != kube-system")
	buckets, err := s.Aggregate(context.Background(), typ, store.Query{Cluster: "cluster", Where: n},
		store.Aggregation{GroupBy: []string{"action", "proto"}, Metrics: []store.Metric{{Op: store.Sum, Field: "bytes_in"}, {Op: store.Max, Field: "packets_in"}}})
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ action, proto string }
	want := map[key][3]int64{}
	ai, _ := typ.ColumnIndex("action")
	pi, _ := typ.ColumnIndex("proto")
	bi, _ := typ.ColumnIndex("bytes_in")
	ki, _ := typ.ColumnIndex("packets_in")
	di, _ := typ.ColumnIndex("dest_namespace")
	for _, r := range rows {
		if r.Values[di] == "kube-system" {
			continue
		}
		k := key{r.Values[ai].(string), r.Values[pi].(string)}
		w := want[k]
		w[0]++
		w[1] += r.Values[bi].(int64)
		w[2] = max(w[2], r.Values[ki].(int64))
		want[k] = w
	}
	if len(buckets) != len(want) {
		t.Fatalf("%d buckets, want %d: %+v", len(buckets), len(want), buckets)
	}
	for i, b := range buckets {
		w := want[key{b.Key[0].(string), b.Key[1].(string)}]
		if b.Count != w[0] || int64(b.Metrics[0]) != w[1] || int64(b.Metrics[1]) != w[2] {
			t.Errorf("bucket %v: count %d sum %v max %v, want %v", b.Key, b.Count, b.Metrics[0], b.Metrics[1], w)
		}
		if i > 0 && buckets[i-1].Count < b.Count {
			t.Errorf("buckets not largest first")
		}
	}
	// A missing value is a group of its own, apart from an empty one.
	gaps := rows[:3]
	for i := range gaps {
		gaps[i].Values = slices.Clone(gaps[i].Values)
		gaps[i].Values[pi] = []any{nil, nil, ""}[i]
		gaps[i].Values[ai] = "allow"
	}
	write(t, s, typ, "gaps", gaps)
	buckets, err = s.Aggregate(context.Background(), typ, store.Query{Cluster: "gaps"},
		store.Aggregation{GroupBy: []string{"action", "proto"}, Metrics: []store.Metric{{Op: store.Sum, Field: "bytes_in"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(buckets) != 2 || buckets[0].Key[1] != nil || buckets[0].Count != 2 || buckets[1].Key[1] != "" || buckets[1].Count != 1 ||
		buckets[0].Key[0] != "allow" || buckets[1].Key[0] != "allow" {
		t.Errorf("grouped by a field missing from two records and empty in one: %+v", buckets)
	}
	if _, err := s.Aggregate(context.Background(), typ, store.Query{Cluster: "cluster"}, store.Aggregation{GroupBy: []string{"dest_labels.labels"}}); err == nil {
		t.Error("grouping by a list was accepted")
	}
}

func testUpdateAndDelete(t *testing.T, h Harness) {
	s := h.Open(t)
	typ := logtype.All()[logtype.Events]
	var lines []string
	for i := range 20 {
		lines = append(lines, fmt.Sprintf(`{"id":"ev-%d","time":%d,"type":"gtf_suspicious_flow","severity":%d,"description":"event %d","dismissed":false,"record":{"n":%d},"generated_time":%d}`,
			i, Base.Unix()+int64(i)*3600*5, 50+i, i, i, Base.UnixNano()+int64(i)))
	}
	rows := Rows(t, typ, lines)
	write(t, s, typ, "cluster", rows)
	// Large integers compare exactly (generated_time is in ns: a float
	// would round 1 ns away).
	after, _ := logquery.Parse(fmt.Sprintf("generated_time > %d", Base.UnixNano()+17))
	if c, err := s.Count(context.Background(), typ, store.Query{Cluster: "cluster", Where: after}); err != nil || c != 2 {
		t.Errorf("generated_time > base+17ns: %d (%v), want 2", c, err)
	}
	ids, _ := logquery.Parse(`id IN {"ev-1", "ev-2", "ev-15"}`)
	n, err := s.Update(context.Background(), typ, store.Query{Cluster: "cluster", Where: ids}, map[string]any{"dismissed": true})
	if err != nil || n != 3 {
		t.Fatalf("dismissing 3 events: %d (%v)", n, err)
	}
	dismissed, _ := logquery.Parse("dismissed = true")
	if c, err := s.Count(context.Background(), typ, store.Query{Cluster: "cluster", Where: dismissed}); err != nil || c != 3 {
		t.Errorf("dismissed: %d (%v), want 3", c, err)
	}
	notDismissed, _ := logquery.Parse("dismissed = false")
	if c, _ := s.Count(context.Background(), typ, store.Query{Cluster: "cluster", Where: notDismissed}); c != 17 {
		t.Errorf("not dismissed: %d, want 17", c)
	}
	del, _ := logquery.Parse("severity >= 65")
	if n, err := s.Delete(context.Background(), typ, store.Query{Cluster: "cluster", Where: del}); err != nil || n != 5 {
		t.Errorf("deleting 5 events: %d (%v)", n, err)
	}
	got := listAll(t, s, typ, store.Query{Cluster: "cluster"})
	if len(got) != 15 {
		t.Fatalf("%d events left, want 15", len(got))
	}
	out := string(typ.Encode(nil, got[len(got)-1]))
	if !strings.Contains(out, `"id":"ev-0"`) || !strings.Contains(out, `"record":{"n":0}`) || !strings.Contains(out, `"dismissed":false`) {
		t.Errorf("the oldest event: %s", out)
	}
	if _, err := s.Update(context.Background(), typ, store.Query{Cluster: "cluster"}, map[string]any{"dismissed": "yes"}); err == nil {
		t.Error("setting a boolean to a string was accepted")
	}
}

func testRetain(t *testing.T, h Harness) {
	s := h.Open(t)
	typ, rows := flows(t, 8, 300)
	write(t, s, typ, "cluster", rows)
	// Keep the last two days: the first is dropped whole.
	dropped, err := s.Retain(context.Background(), typ, Base.Add(24*time.Hour+time.Hour))
	if err != nil || dropped < 1 {
		t.Fatalf("retain: dropped %d (%v)", dropped, err)
	}
	var left int
	for _, r := range rows {
		if r.Time >= Base.Add(24*time.Hour).UnixMilli() {
			left++
		}
	}
	if n, _ := s.Count(context.Background(), typ, store.Query{Cluster: "cluster"}); n != int64(left) {
		t.Errorf("%d records after retention, want %d (the first day dropped, the second kept whole)", n, left)
	}
	if again, err := s.Retain(context.Background(), typ, Base.Add(24*time.Hour+time.Hour)); err != nil || again != 0 {
		t.Errorf("retain again: dropped %d (%v)", again, err)
	}
}

// BenchFlows are n random flow logs in time order (as they arrive).
func BenchFlows(tb testing.TB, n int) (*logtype.Type, []logtype.Row) {
	typ := logtype.All()[logtype.Flows]
	rng := rand.New(rand.NewPCG(1, 2))
	lines := make([]string, n)
	for i := range lines {
		lines[i] = FlowLine(rng)
	}
	rows := Rows(tb, typ, lines)
	slices.SortFunc(rows, func(a, b logtype.Row) int { return cmpInt(a.Time, b.Time) })
	return typ, rows
}

// ReID gives rows new IDs, so that writing them again stores them.
func ReID(rows []logtype.Row) {
	for i := range rows {
		rows[i].ID = rand.Int64()
	}
}
