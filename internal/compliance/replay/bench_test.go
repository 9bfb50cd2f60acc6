package replay

import (
	"fmt"
	"testing"
	"time"

	v3 "github.com/calicong/calico/api/v3"
)

// world is n pods over 50 namespaces, 20 apps each, and p policies
// selecting apps, with changes policy updates spread over a day.
func world(n, p, changes int, from time.Time) ([]any, []Change) {
	var objs []any
	for ns := range 50 {
		objs = append(objs, namespace(fmt.Sprintf("ns-%02d", ns), map[string]string{"team": fmt.Sprint(ns % 5)}))
	}
	for i := range n {
		ns := i % 50
		objs = append(objs, pod(fmt.Sprintf("ns-%02d", ns), fmt.Sprintf("app-%d-%d", i%20, i), map[string]string{"app": fmt.Sprint(i % 20)},
			fmt.Sprintf("10.%d.%d.%d", 1+i>>16, i>>8&255, i&255)))
	}
	pols := make([]*v3.NetworkPolicy, p)
	for i := range p {
		pols[i] = np(fmt.Sprintf("ns-%02d", i%50), fmt.Sprintf("pol-%d", i), v3.NetworkPolicySpec{Selector: fmt.Sprintf("app == '%d'", i%20),
			Types:   []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress: []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: fmt.Sprintf("app == '%d'", (i+1)%20)}}}})
		objs = append(objs, pols[i])
	}
	var cs []Change
	for i := range changes {
		pol := pols[i%p].DeepCopy()
		pol.Spec.Ingress[0].Source.Selector = fmt.Sprintf("app == '%d'", (i+2)%20)
		cs = append(cs, Change{Time: from.Add(time.Duration(i) * 24 * time.Hour / time.Duration(changes)), Obj: pol})
	}
	return objs, cs
}

// benchChanges is the day's policy changes (BenchmarkBuildOnce sets none).
var benchChanges = 500

// BenchmarkInventoryDay: an inventory report's replay over 5,000
// endpoints, 1,000 policies and a day of 500 policy changes (issue 25's
// target: the whole report in under 30 s).
func BenchmarkInventoryDay(b *testing.B) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	objs, cs := world(5000, 1000, benchChanges, from)
	for b.Loop() {
		got, err := Run(objs, cs, from, from.Add(24*time.Hour), Scope{}, nil)
		if err != nil || len(got) != 5000 {
			b.Fatalf("%d endpoints, %v", len(got), err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "report-s")
}

// BenchmarkBuildOnce: one state of the same world, no changes.
func BenchmarkBuildOnce(b *testing.B) {
	benchChanges = 0
	defer func() { benchChanges = 500 }()
	BenchmarkInventoryDay(b)
}
