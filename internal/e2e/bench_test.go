package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/calicong/calico/internal/lab/netnstest"
)

// BenchmarkBlockRoute measures BGP route propagation: a node claims a new
// IPAM block (as it does when its pods need addresses), and the clock runs
// until every other node's kernel routes the block to it (API server →
// each calico-node's syncer → confd → BIRD → BGP → the peers' BIRD →
// kernel). Reported for 3 and 10 hosts in a full mesh: p50 and the
// slowest, in ms.
func BenchmarkBlockRoute(b *testing.B) {
	for _, hosts := range []int{3, 10} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			c := newCluster(b, clusterOpts{hosts: hosts})
			makePool(b, fmt.Sprintf("bench-%d", hosts), fmt.Sprintf("10.%d.0.0/16", 80+hosts))
			for _, h := range c.hosts {
				until(b, 120*time.Second, "mesh on "+h.Name, func() bool {
					s := sessions(h)
					up := 0
					for _, ok := range s {
						if ok {
							up++
						}
					}
					return up == hosts-1
				})
			}
			// The other hosts' routing tables, read over netlink.
			var handles []*netlink.Handle
			for _, h := range c.hosts[1:] {
				handles = append(handles, netnstest.Handle(b, h.NS))
			}
			m := testLab.Client.IPAM()
			owner := c.hosts[0]
			ctx := context.Background()
			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				blk := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/26", 80+hosts, i%250))
				start := time.Now()
				if err := m.ClaimAffinity(ctx, owner.Name, blk); err != nil {
					b.Fatal(err)
				}
				waitAll(b, handles, blk, true, 30*time.Second)
				lat = append(lat, time.Since(start))
				b.StopTimer()
				if err := m.ReleaseNodeAffinities(ctx, owner.Name); err != nil {
					b.Fatal(err)
				}
				waitAll(b, handles, blk, false, 30*time.Second)
				// Each claim comes after a quiet spell, as a node's new
				// block does: confd renders at once then, while changes in
				// a burst are spaced by its 100ms minimum interval.
				time.Sleep(200 * time.Millisecond)
				b.StartTimer()
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// waitAll waits until every table has (or lacks) a route to dst.
func waitAll(b *testing.B, handles []*netlink.Handle, dst netip.Prefix, present bool, within time.Duration) {
	b.Helper()
	filter := &netlink.Route{Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)}}
	var wg sync.WaitGroup
	errs := make(chan error, len(handles))
	for i, nl := range handles {
		wg.Go(func() {
			deadline := time.Now().Add(within)
			for {
				rs, err := nl.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_DST)
				if err == nil && (len(rs) > 0) == present {
					return
				}
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("host %d: route to %s present=%v not within %s", i+1, dst, present, within)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
