package kdd_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/calicong/calico/internal/crdclient"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/ipam/kdd"
)

// BenchmarkAutoAssign measures allocations per second against the lab's
// API server with 1, 10 and 50 concurrent callers, each on its own node
// (callers on one node are serialised by the CNI plugin's host lock, so
// concurrency comes from nodes) with its own client and no client-side
// rate limit, as each node's plugin has: a plugin process makes a dozen
// requests and exits, never meeting client-go's limiter, which a
// long-lived benchmark client would measure instead.
func BenchmarkAutoAssign(b *testing.B) {
	for _, callers := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			name := fmt.Sprintf("bench-%d-%d", callers, time.Now().UnixNano())
			poolB(b, name, fmt.Sprintf("10.%d.0.0/16", 90+callers%100), 26)
			m := testLab.Client.IPAM()
			ctx := context.Background()
			// Each run starts from an empty pool: release what it took.
			b.Cleanup(func() {
				for i := 1; i <= b.N; i++ {
					_ = m.ReleaseByHandle(ctx, fmt.Sprintf("%s-%d", name, i))
				}
				for c := range callers {
					_ = m.ReleaseNodeAffinities(ctx, fmt.Sprintf("%s-node-%d", name, c))
				}
			})
			clients := make([]*ipam.IPAM, callers)
			cfg := rest.CopyConfig(testLab.REST)
			cfg.QPS = -1 // no client-side rate limit
			for c := range clients {
				cl, err := crdclient.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				clients[c] = kdd.NewIPAMWith(cl, nil)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for c := range callers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						_, err := clients[c].AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: fmt.Sprintf("%s-%d", name, i), Node: fmt.Sprintf("%s-node-%d", name, c)})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "allocs/s")
		})
	}
}
