package flowgen

import (
	"encoding/json"
	"testing"
	"time"
)

// TestGen: the generated lines are JSON flow logs with what the queries
// filter on, distinct, and between each workload and its four peers.
func TestGen(t *testing.T) {
	g := Gen{Now: time.Now().Unix(), N: 1000, Span: 86400, Namespaces: 100, Apps: 20}
	seen := map[string]bool{}
	edges := map[string]bool{}
	for i := range g.N {
		line := g.Line(nil, i)
		var r struct {
			SourceNamespace string `json:"source_namespace"`
			SourceName      string `json:"source_name_aggr"`
			DestName        string `json:"dest_name_aggr"`
			DestNamespace   string `json:"dest_namespace"`
			Action          string `json:"action"`
			EndTime         int64  `json:"end_time"`
			Policies        struct {
				Enforced []string `json:"enforced_policies"`
			} `json:"policies"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("line %d: %v\n%s", i, err, line)
		}
		if len(r.SourceNamespace) != 6 || len(r.DestNamespace) != 6 || (r.Action != "allow" && r.Action != "deny") ||
			len(r.Policies.Enforced) != 1 || r.EndTime > g.Now || r.EndTime < g.Now-86400 {
			t.Fatalf("line %d: %+v\n%s", i, r, line)
		}
		if seen[string(line)] {
			t.Fatalf("line %d repeats", i)
		}
		seen[string(line)] = true
		edges[r.SourceNamespace+"/"+r.SourceName+">"+r.DestNamespace+"/"+r.DestName] = true
	}
	if len(edges) < 500 || len(edges) > 4*100*20 {
		t.Errorf("%d workload pairs talk in %d flows; want each of the 2000 workloads to reach at most 4 others", len(edges), g.N)
	}
	t.Logf("%s", g.Line(nil, 1))
}
