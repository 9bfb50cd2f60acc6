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

// flows reads the interval's flow logs and adds them to the endpoints.
func (r *Reporter) flows(ctx context.Context, d *report.ReportData, start, end time.Time) error {
	var recs []FlowRecord
	p := api.Params{TimeRange: &api.TimeRange{From: start, To: end}, MaxPageSize: 5000}
	err := r.Linseed.Each(ctx, FlowLogsPath, p, func(raw json.RawMessage) error {
		var f FlowRecord
		if err := json.Unmarshal(raw, &f); err == nil {
			recs = append(recs, f)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading flow logs: %w", err)
	}
	AddFlows(d, recs)
	return nil
}

// AddFlows adds what the flow logs say about the endpoints in scope:
// which endpoints sent them traffic and which they sent traffic to, and
// the aggregated name (a prefix ending in *) their flows were logged
// under when flow logs aggregate pods by their owner. The report's
// flows are each distinct pair with an endpoint in scope. Denied flows
// count too: they are traffic the endpoint was sent.
func AddFlows(d *report.ReportData, recs []FlowRecord) {
	byNS := map[string][]int{} // namespace → endpoints in d.Endpoints
	for i, e := range d.Endpoints {
		byNS[e.Endpoint.Namespace] = append(byNS[e.Endpoint.Namespace], i)
	}
	// matches are the endpoints in scope a flow's end names: exactly by
	// name, or every pod whose name has the aggregated prefix.
	matches := func(typ, ns, name, aggr string) (out []int, aggregated bool) {
		if typ != "wep" {
			return nil, false
		}
		prefix, agg := strings.CutSuffix(aggr, "*")
		agg = agg && (name == "" || name == "-")
		for _, i := range byNS[ns] {
			n := d.Endpoints[i].Endpoint.Name
			if agg && strings.HasPrefix(n, prefix) || !agg && n == name {
				out = append(out, i)
			}
		}
		return out, agg
	}
	type pair struct{ src, dst report.ResourceID }
	seen := map[pair]bool{}
	from := map[int]map[report.ResourceID]bool{}
	to := map[int]map[report.ResourceID]bool{}
	add := func(m map[int]map[report.ResourceID]bool, i int, id report.ResourceID) {
		if m[i] == nil {
			m[i] = map[report.ResourceID]bool{}
		}
		m[i][id] = true
	}
	for _, f := range recs {
		src := peer(f.SourceType, f.SourceNamespace, f.SourceName, f.SourceNameAggr)
		dst := peer(f.DestType, f.DestNamespace, f.DestName, f.DestNameAggr)
		srcs, srcAgg := matches(f.SourceType, f.SourceNamespace, f.SourceName, f.SourceNameAggr)
		dsts, dstAgg := matches(f.DestType, f.DestNamespace, f.DestName, f.DestNameAggr)
		for _, i := range srcs {
			add(to, i, dst)
			if srcAgg {
				d.Endpoints[i].FlowLogAggregationName = f.SourceNameAggr
			}
		}
		for _, i := range dsts {
			add(from, i, src)
			if dstAgg {
				d.Endpoints[i].FlowLogAggregationName = f.DestNameAggr
			}
		}
		if (len(srcs) > 0 || len(dsts) > 0) && !seen[pair{src, dst}] {
			seen[pair{src, dst}] = true
			d.Flows = append(d.Flows, report.Flow{Source: src, Destination: dst})
		}
	}
	sorted := func(set map[report.ResourceID]bool) []report.ResourceID {
		out := make([]report.ResourceID, 0, len(set))
		for id := range set {
			out = append(out, id)
		}
		slices.SortFunc(out, func(a, b report.ResourceID) int { return strings.Compare(a.String(), b.String()) })
		return out
	}
	for i := range d.Endpoints {
		if s := from[i]; s != nil {
			d.Endpoints[i].EndpointsGeneratingTrafficToThisEndpoint = sorted(s)
		}
		if s := to[i]; s != nil {
			d.Endpoints[i].EndpointsReceivingTrafficFromThisEndpoint = sorted(s)
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
