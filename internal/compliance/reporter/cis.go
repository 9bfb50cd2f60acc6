package reporter

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/compliance/cis"
	"github.com/calicong/calico/internal/compliance/report"
	"github.com/calicong/calico/internal/linseed/api"
)

// BenchmarksPath is where Linseed keeps the benchmarker's results.
const BenchmarksPath = "/compliance/benchmarks"

// benchmarks adds each node's newest benchmark results within the
// interval.
func (r *Reporter) benchmarks(ctx context.Context, d *report.ReportData, params *v3.CISBenchmarkParams, start, end time.Time) error {
	newest := map[string]cis.Result{}
	p := api.Params{TimeRange: &api.TimeRange{From: start, To: end}, MaxPageSize: 1000}
	err := r.Linseed.Each(ctx, BenchmarksPath, p, func(raw json.RawMessage) error {
		var res cis.Result
		if err := json.Unmarshal(raw, &res); err != nil {
			r.log().Warn("benchmark results the reporter cannot read", "err", err)
			return nil
		}
		if old, ok := newest[res.NodeName]; !ok || res.Timestamp.After(old.Timestamp) {
			newest[res.NodeName] = res
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading benchmark results: %w", err)
	}
	results := make([]cis.Result, 0, len(newest))
	for _, res := range newest {
		results = append(results, res)
	}
	d.CISBenchmark, d.CISBenchmarkSummary = CISNodes(results, params)
	return nil
}

// CISNodes classes each node's results by the report's parameters: the
// tests its filters keep (unscored ones only when asked), counted; the
// node is HIGH when at least highThreshold percent pass, MED at
// medThreshold, LOW below. The summary counts the nodes by class and
// lists the tests that failed on most nodes.
func CISNodes(results []cis.Result, params *v3.CISBenchmarkParams) ([]report.CISNode, report.CISSummary) {
	var p v3.CISBenchmarkParams
	if params != nil {
		p = *params
	}
	high, med, top := 100, 50, 5
	if p.HighThreshold != nil {
		high = *p.HighThreshold
	}
	if p.MedThreshold != nil {
		med = *p.MedThreshold
	}
	if p.NumFailedTests > 0 {
		top = p.NumFailedTests
	}
	sum := report.CISSummary{Type: "kube", HighThreshold: high, MedThreshold: med}
	failed := map[string]*report.CISFailedTest{}
	var nodes []report.CISNode
	slices.SortFunc(results, func(a, b cis.Result) int { return cmp.Compare(a.NodeName, b.NodeName) })
	for _, res := range results {
		n := report.CISNode{NodeName: res.NodeName, KubernetesVersion: res.KubernetesVersion, BenchmarksVersion: res.Version}
		var kept []cis.Test
		for _, t := range res.Tests {
			if !t.Scored && !p.IncludeUnscoredTests || !keep(t.TestNumber, res.KubernetesVersion, p.ResultsFilters) {
				continue
			}
			kept = append(kept, t)
			n.Results = append(n.Results, report.CISResult{TestNumber: t.TestNumber, TestDesc: t.TestDesc, TestInfo: t.TestInfo,
				Status: t.Status, Scored: t.Scored})
			if t.Status == cis.Fail {
				f := failed[t.TestNumber]
				if f == nil {
					f = &report.CISFailedTest{TestNumber: t.TestNumber, TestDesc: t.TestDesc}
					failed[t.TestNumber] = f
				}
				f.Count++
			}
		}
		c := cis.Count(kept, true)
		n.Summary = report.CISNodeSummary{TotalPass: c.Pass, TotalFail: c.Fail, TotalInfo: c.Info, Total: c.Total}
		pct := 0
		if c.Total > 0 {
			pct = 100 * c.Pass / c.Total
		}
		switch {
		case c.Total > 0 && pct >= high:
			n.Summary.Status = "HIGH"
			sum.HighCount++
		case c.Total > 0 && pct >= med:
			n.Summary.Status = "MED"
			sum.MedCount++
		default:
			n.Summary.Status = "LOW"
			sum.LowCount++
		}
		nodes = append(nodes, n)
	}
	for _, f := range failed {
		sum.TopFailedTests = append(sum.TopFailedTests, *f)
	}
	slices.SortFunc(sum.TopFailedTests, func(a, b report.CISFailedTest) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.TestNumber, b.TestNumber))
	})
	if len(sum.TopFailedTests) > top {
		sum.TopFailedTests = sum.TopFailedTests[:top]
	}
	return nodes, sum
}

// keep applies the filters that select the node's Kubernetes version:
// with includes, a test must be one of them (or in a section named);
// an exclude removes it.
func keep(test, version string, filters []v3.CISBenchmarkFilter) bool {
	in := func(ids []string) bool {
		return slices.ContainsFunc(ids, func(id string) bool { return test == id || strings.HasPrefix(test, id+".") })
	}
	for _, f := range filters {
		if s := f.BenchmarkSelection; s != nil && s.KubernetesVersion != "" &&
			!(version == s.KubernetesVersion || strings.HasPrefix(strings.TrimPrefix(version, "v"), strings.TrimPrefix(s.KubernetesVersion, "v")+".")) {
			continue
		}
		if len(f.Include) > 0 && !in(f.Include) || in(f.Exclude) {
			return false
		}
	}
	return true
}
