package manager

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/calicong/calico/internal/kubeauth"
)

// Bucket is one interval of the traffic timeline.
type Bucket struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Allowed int64     `json:"allowed"`
	Denied  int64     `json:"denied"`
	Bytes   int64     `json:"bytes"`
}

// DeniedGroup is denied traffic between two ends, by the policy that
// denied it.
type DeniedGroup struct {
	SourceNamespace string `json:"source_namespace"`
	SourceName      string `json:"source_name"`
	DestNamespace   string `json:"dest_namespace"`
	DestName        string `json:"dest_name"`
	Port            int64  `json:"port"`
	// Policy is the deciding entry of the flow logs' enforced policies
	// ("order|tier|name|action|rule"), "" when they record none.
	Policy string `json:"policy"`
	Flows  int64  `json:"flows"`
}

// Summary is the dashboard's view of the flows in a time range.
type Summary struct {
	Buckets []Bucket      `json:"buckets"`
	Denied  []DeniedGroup `json:"denied"`
}

// Dashboard limits: buckets per range, flow logs read for the denied list.
const (
	defaultBuckets    = 12
	maxBuckets        = 60
	deniedSample      = 500
	deniedGroupsShown = 10
	bucketConcurrency = 4
)

// flowSummary answers the dashboard: allowed and denied flows over the
// range in equal buckets (one aggregation per bucket), and the denied
// traffic grouped by its ends and deciding policy.
func (s *server) flowSummary(w http.ResponseWriter, r *http.Request, _ kubeauth.User) {
	q, ok := decodeQuery(w, r)
	if !ok {
		return
	}
	n := q.Buckets
	if n == 0 {
		n = defaultBuckets
	}
	if n < 1 || n > maxBuckets {
		writeError(w, http.StatusBadRequest, "buckets: 1 to 60")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	step := q.To.Sub(q.From) / time.Duration(n)
	out := Summary{Buckets: make([]Bucket, n), Denied: []DeniedGroup{}}
	errs := make([]error, n)
	sem := make(chan struct{}, bucketConcurrency)
	var wg sync.WaitGroup
	for i := range n {
		b := &out.Buckets[i]
		b.Start = q.From.Add(time.Duration(i) * step)
		b.End = b.Start.Add(step)
		if i == n-1 {
			b.End = q.To
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			bq := *q
			bq.From, bq.To = b.Start, b.End
			p := bq.linseedParams()
			p["aggregations"] = map[string]any{"by_action": map[string]any{"terms": map[string]any{"field": "action", "size": 5},
				"aggs": map[string]any{"flows": map[string]any{"sum": map[string]any{"field": "num_flows"}},
					"bytes_in":  map[string]any{"sum": map[string]any{"field": "bytes_in"}},
					"bytes_out": map[string]any{"sum": map[string]any{"field": "bytes_out"}}}}}
			var res struct {
				Aggregations struct {
					ByAction struct {
						Buckets []struct {
							Key      string                  `json:"key"`
							Flows    struct{ Value float64 } `json:"flows"`
							BytesIn  struct{ Value float64 } `json:"bytes_in"`
							BytesOut struct{ Value float64 } `json:"bytes_out"`
						} `json:"buckets"`
					} `json:"by_action"`
				} `json:"aggregations"`
			}
			if errs[i] = s.cfg.Logs.Post(ctx, "/flows/logs/aggregation", p, &res); errs[i] != nil {
				return
			}
			for _, a := range res.Aggregations.ByAction.Buckets {
				switch a.Key {
				case "allow":
					b.Allowed += int64(a.Flows.Value)
				case "deny":
					b.Denied += int64(a.Flows.Value)
				}
				b.Bytes += int64(a.BytesIn.Value + a.BytesOut.Value)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.linseedFailed(w, err)
		return
	}

	// The denied traffic: the newest flow logs the destination (or, for
	// egress denials, the source) reported as denied.
	p := q.linseedParams()
	p["actions"] = []string{"deny"}
	p["max_page_size"] = deniedSample
	p["sort"] = []map[string]any{{"field": "end_time", "descending": true}}
	var page struct {
		Items []struct {
			SourceNamespace string `json:"source_namespace"`
			SourceName      string `json:"source_name_aggr"`
			DestNamespace   string `json:"dest_namespace"`
			DestName        string `json:"dest_name_aggr"`
			DestPort        *int64 `json:"dest_port"`
			NumFlows        int64  `json:"num_flows"`
			Policies        *struct {
				Enforced []string `json:"enforced_policies"`
			} `json:"policies"`
		} `json:"items"`
	}
	if err := s.cfg.Logs.Post(ctx, "/flows/logs", p, &page); err != nil {
		s.linseedFailed(w, err)
		return
	}
	groups := map[DeniedGroup]int64{}
	for _, it := range page.Items {
		g := DeniedGroup{SourceNamespace: it.SourceNamespace, SourceName: it.SourceName, DestNamespace: it.DestNamespace, DestName: it.DestName}
		if it.DestPort != nil {
			g.Port = *it.DestPort
		}
		if it.Policies != nil {
			g.Policy = decidingPolicy(it.Policies.Enforced)
		}
		groups[g] += max(it.NumFlows, 1)
	}
	for g, n := range groups {
		g.Flows = n
		out.Denied = append(out.Denied, g)
	}
	sort.Slice(out.Denied, func(i, j int) bool {
		a, b := out.Denied[i], out.Denied[j]
		if a.Flows != b.Flows {
			return a.Flows > b.Flows
		}
		return a.SourceNamespace+a.SourceName+a.DestNamespace+a.DestName < b.SourceNamespace+b.SourceName+b.DestNamespace+b.DestName
	})
	if len(out.Denied) > deniedGroupsShown {
		out.Denied = out.Denied[:deniedGroupsShown]
	}
	writeJSON(w, out)
}

// decidingPolicy is the last (highest order) of a flow log's enforced
// policies: the one that decided.
func decidingPolicy(enforced []string) string {
	best, bestOrder := "", -1
	for _, e := range enforced {
		order, _, _ := strings.Cut(e, "|")
		if n, err := strconv.Atoi(order); err == nil && n >= bestOrder {
			best, bestOrder = e, n
		}
	}
	return best
}
