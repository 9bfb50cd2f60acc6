package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/logquery"
)

// TestPlan: a query for a namespace searches the namespace indexes
// within its time range, and one for a time range alone the primary key,
// on every connection (the statistics of plan), including for a day
// table created after the store was opened.
func TestPlan(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "logs.db"))
	typ := logtype.All()[logtype.Flows]
	now := time.Now()
	var rows []logtype.Row
	for i := range 2000 {
		r, err := typ.Decode(fmt.Appendf(nil, `{"end_time":%d,"source_namespace":"ns-%d","dest_namespace":"ns-%d","action":"allow","bytes_in":%d}`,
			now.Unix()-int64(i), i%100, i%37, i))
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if _, err := s.Write(context.Background(), typ, "cluster", rows); err != nil {
		t.Fatal(err)
	}
	explain := func(selector string) string {
		t.Helper()
		q := store.Query{Cluster: "cluster", From: now.Add(-time.Hour)}
		if selector != "" {
			var err error
			if q.Where, err = logquery.Parse(selector); err != nil {
				t.Fatal(err)
			}
		}
		where, args, err := store.SQL{D: store.SQLite, T: typ}.Where(q, false)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for _, table := range s.tablesFor(typ, q) {
			rs, err := s.db.Query(fmt.Sprintf("EXPLAIN QUERY PLAN SELECT count(*) FROM %s WHERE %s", store.Ident(table), where), args...)
			if err != nil {
				t.Fatal(err)
			}
			for rs.Next() {
				var id, parent, unused int
				var detail string
				if err := rs.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rs.Close()
		}
		return strings.Join(plan, "; ")
	}
	// Several times, so that more than one pooled connection answers.
	for range 3 {
		if p := explain(`source_namespace = "ns-1" OR dest_namespace = "ns-1"`); !strings.Contains(p, "MULTI-INDEX OR") ||
			!strings.Contains(p, "source_namespace=? AND _time>?") || !strings.Contains(p, "dest_namespace=? AND _time>?") {
			t.Errorf("a namespace over the last hour: %s", p)
		}
		if p := explain(""); !strings.Contains(p, "USING PRIMARY KEY (_cluster=? AND _time>?)") {
			t.Errorf("the last hour: %s", p)
		}
	}
}
