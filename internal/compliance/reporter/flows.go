package reporter

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/calicong/calico/internal/compliance/report"
	"github.com/calicong/calico/internal/linseed/api"
)

// FlowLogsPath is where Linseed keeps flow logs.
const FlowLogsPath = "/flows/logs"

// FlowRecord is what a report reads of a flow log.
type FlowRecord struct {
	SourceType      string `json:"source_type"`
	SourceNamespace string `json:"source_namespace"`
	SourceName      string `json:"source_name"`
	SourceNameAggr  string `json:"source_name_aggr"`
	DestType        string `json:"dest_type"`
	DestNamespace   string `json:"dest_namespace"`
	DestName        string `json:"dest_name"`
	DestNameAggr    string `json:"dest_name_aggr"`
	Action          string `json:"action"`
}

// flows reads the interval's flow logs into the endpoints, a page at a
// time (a day's flows are not held in memory).
func (r *Reporter) flows(ctx context.Context, d *report.ReportData, start, end time.Time) error {
	fi := newFlowIndex(d)
	p := api.Params{TimeRange: &api.TimeRange{From: start, To: end}, MaxPageSize: 5000}
	err := r.Linseed.Each(ctx, FlowLogsPath, p, func(raw json.RawMessage) error {
		var f FlowRecord
		if err := json.Unmarshal(raw, &f); err == nil {
			fi.add(f)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading flow logs: %w", err)
	}
	fi.finish()
	return nil
}

// flowIndex folds flow records into a report's endpoints: which
// endpoints sent them traffic and which they sent traffic to, and the
// aggregated name (a prefix ending in *) their flows were logged under
// when flow logs aggregate pods by their owner. The report's flows are
// each distinct pair with an endpoint in scope. Denied flows count too:
// they are traffic the endpoint was sent.
type flowIndex struct {
	d        *report.ReportData
	byNS     map[string][]int // namespace → endpoints in d.Endpoints
	seen     map[[2]report.ResourceID]bool
	from, to map[int]map[report.ResourceID]bool
}

func newFlowIndex(d *report.ReportData) *flowIndex {
	fi := &flowIndex{d: d, byNS: map[string][]int{}, seen: map[[2]report.ResourceID]bool{},
		from: map[int]map[report.ResourceID]bool{}, to: map[int]map[report.ResourceID]bool{}}
	for i, e := range d.Endpoints {
		fi.byNS[e.Endpoint.Namespace] = append(fi.byNS[e.Endpoint.Namespace], i)
	}
	return fi
}

// matches are the endpoints in scope a flow's end names: exactly by
// name, or every pod whose name has the aggregated prefix.
func (fi *flowIndex) matches(typ, ns, name, aggr string) (out []int, aggregated bool) {
	if typ != "wep" {
		return nil, false
	}
	prefix, agg := strings.CutSuffix(aggr, "*")
	agg = agg && (name == "" || name == "-")
	for _, i := range fi.byNS[ns] {
		n := fi.d.Endpoints[i].Endpoint.Name
		if agg && strings.HasPrefix(n, prefix) || !agg && n == name {
			out = append(out, i)
		}
	}
	return out, agg
}

func (fi *flowIndex) add(f FlowRecord) {
	src := peer(f.SourceType, f.SourceNamespace, f.SourceName, f.SourceNameAggr)
	dst := peer(f.DestType, f.DestNamespace, f.DestName, f.DestNameAggr)
	mark := func(m map[int]map[report.ResourceID]bool, i int, id report.ResourceID) {
		if m[i] == nil {
			m[i] = map[report.ResourceID]bool{}
		}
		m[i][id] = true
	}
	srcs, srcAgg := fi.matches(f.SourceType, f.SourceNamespace, f.SourceName, f.SourceNameAggr)
	dsts, dstAgg := fi.matches(f.DestType, f.DestNamespace, f.DestName, f.DestNameAggr)
	for _, i := range srcs {
		mark(fi.to, i, dst)
		if srcAgg {
			fi.d.Endpoints[i].FlowLogAggregationName = f.SourceNameAggr
		}
	}
	for _, i := range dsts {
		mark(fi.from, i, src)
		if dstAgg {
			fi.d.Endpoints[i].FlowLogAggregationName = f.DestNameAggr
		}
	}
	if pair := [2]report.ResourceID{src, dst}; (len(srcs) > 0 || len(dsts) > 0) && !fi.seen[pair] {
		fi.seen[pair] = true
		fi.d.Flows = append(fi.d.Flows, report.Flow{Source: src, Destination: dst})
	}
}

// finish writes each endpoint's peers, sorted.
func (fi *flowIndex) finish() {
	sorted := func(set map[report.ResourceID]bool) []report.ResourceID {
		out := make([]report.ResourceID, 0, len(set))
		for id := range set {
			out = append(out, id)
		}
		slices.SortFunc(out, func(a, b report.ResourceID) int { return strings.Compare(a.String(), b.String()) })
		return out
	}
	for i := range fi.d.Endpoints {
		if s := fi.from[i]; s != nil {
			fi.d.Endpoints[i].EndpointsGeneratingTrafficToThisEndpoint = sorted(s)
		}
		if s := fi.to[i]; s != nil {
			fi.d.Endpoints[i].EndpointsReceivingTrafficFromThisEndpoint = sorted(s)
		}
	}
}

// peer names a flow's end as the report writes it: Pod(ns/name), or
// Pod(ns/prefix*) when aggregated, a HostEndpoint, a network set, or the
// public or private network (Network(pub), Network(pvt)).
func peer(typ, ns, name, aggr string) report.ResourceID {
	if name == "" || name == "-" {
		name = aggr
	}
	if ns == "-" {
		ns = ""
	}
	switch typ {
	case "wep":
		return report.ResourceID{Kind: "Pod", Namespace: ns, Name: name}
	case "hep":
		return report.ResourceID{Kind: "HostEndpoint", Name: name}
	case "ns":
		if ns == "" {
			return report.ResourceID{Kind: "GlobalNetworkSet", Name: name}
		}
		return report.ResourceID{Kind: "NetworkSet", Namespace: ns, Name: name}
	default:
		return report.ResourceID{Kind: "Network", Name: name}
	}
}
