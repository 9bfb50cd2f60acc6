package dataplane

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/dataplane/nft"
	"github.com/calicong/calico/internal/proto"
)

// recordingNFT runs nft and remembers the last script, so the benchmark
// can time `nft -f` of exactly that change on its own.
type recordingNFT struct {
	nft.Runner
	last string
}

func (r *recordingNFT) Apply(ctx context.Context, script string) error {
	r.last = script
	return r.Runner.Apply(ctx, script)
}

func benchPolicy(i, variant int) model.KVPair {
	order := float64(i)
	rules := []v3.Rule{
		{Action: v3.Allow, Protocol: tcpProto(), Source: v3.EntityRule{Selector: fmt.Sprintf("app == 'app-%d'", (i+variant+1)%100)},
			Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(uint16(8000 + variant))}}},
		{Action: v3.Deny, Source: v3.EntityRule{Nets: []string{fmt.Sprintf("192.0.2.%d/32", variant%250)}}},
	}
	p := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pol-%04d", i)},
		Spec: v3.GlobalNetworkPolicySpec{Order: &order, Selector: fmt.Sprintf("app == 'app-%d'", i%100), Ingress: rules, Egress: rules[:1]}}
	v3.Default(p)
	return model.KVPair{Key: model.Key{Kind: "GlobalNetworkPolicy", Name: p.Name}, Value: p}
}

// BenchmarkPolicyProgramming: 1,000 local endpoints and 1,000 policies are
// programmed; then one policy changes at a time, and the time from the
// change reaching the graph to the kernel holding it is compared with the
// time `nft -f` alone takes for the same transaction. readback-ms is the
// periodic read-back of the whole table that finds what to repair.
func BenchmarkPolicyProgramming(b *testing.B) {
	netnstest.Require(b)
	ns := netnstest.New(b, "bench")
	rec := &recordingNFT{Runner: nft.Runner{Prefix: netnstest.Exec(ns)}}
	dp, err := New(Config{}, rec, nil)
	if err != nil {
		b.Fatal(err)
	}
	g := calc.New(calc.Config{Hostname: nodeName}, func(msgs []proto.Message) {
		if err := dp.OnMessages(msgs); err != nil {
			b.Fatal(err)
		}
	})
	var ups []model.Update
	for _, t := range v3.BuiltinTiers() {
		o := t.Order
		ups = append(ups, model.Update{KVPair: model.KVPair{Key: model.Key{Kind: "Tier", Name: t.Name}, Value: &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: t.Name}, Spec: v3.TierSpec{Order: &o, DefaultAction: t.DefaultAction}}}})
	}
	for i := range 10 {
		p := conversion.NamespaceProfile(nsObj(fmt.Sprintf("ns-%d", i)))
		ups = append(ups, model.Update{KVPair: model.KVPair{Key: model.Key{Kind: model.KindProfile, Name: p.Name}, Value: p}})
	}
	for i := range 1000 {
		w := wepFor(fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("pod-%04d", i), fmt.Sprintf("10.70.%d.%d", i/250, i%250+1), "", map[string]string{"app": fmt.Sprintf("app-%d", i%100)})
		ups = append(ups, model.Update{KVPair: model.KVPair{Key: model.Key{Kind: model.KindWorkloadEndpoint, Namespace: w.Namespace, Name: w.Name}, Value: w}})
	}
	for i := range 1000 {
		ups = append(ups, model.Update{KVPair: benchPolicy(i, 0)})
	}
	start := time.Now()
	g.OnUpdates(ups)
	g.OnStatusUpdated(model.InSync)
	g.Flush()
	if err := dp.Apply(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("initial programming of 1,000 endpoints and 1,000 policies: %v (%d chains)", time.Since(start), len(dp.Table().ChainNames()))

	var total, floor []time.Duration
	variant := 1
	for b.Loop() {
		for range 20 {
			kv := benchPolicy(variant*37%1000, variant)
			variant++
			start := time.Now()
			g.OnUpdates([]model.Update{{KVPair: kv}})
			g.Flush()
			if err := dp.Apply(context.Background()); err != nil {
				b.Fatal(err)
			}
			total = append(total, time.Since(start))
			script := rec.last
			start = time.Now()
			if err := rec.Runner.Apply(context.Background(), script); err != nil {
				b.Fatal(err)
			}
			floor = append(floor, time.Since(start))
		}
	}
	// The periodic read-back of the whole table (nftablesRefreshInterval):
	// it must find nothing to repair, first by counts, then by fingerprints.
	var check []time.Duration
	for range 3 {
		start := time.Now()
		asOf, _ := dp.KernelGeneration()
		k, err := dp.ReadKernel(context.Background())
		repair := err == nil && dp.CheckKernel(k, asOf)
		if err != nil || repair {
			b.Fatalf("read-back of an untouched table: repair=%v, %v", repair, err)
		}
		check = append(check, time.Since(start))
	}
	b.ReportMetric(float64(median(check).Microseconds())/1000, "readback-ms")
	t, f := median(total), median(floor)
	b.ReportMetric(float64(t.Microseconds())/1000, "change-ms")
	b.ReportMetric(float64(f.Microseconds())/1000, "nft-floor-ms")
	b.ReportMetric(float64(t)/float64(f), "ratio")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
