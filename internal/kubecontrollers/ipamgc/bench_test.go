package ipamgc

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/crdclient"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/ipam/kdd"
)

// countingTransport counts the requests that reach the API server.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// Shape of the leak the benchmark collects.
const (
	benchBlocks   = 200
	benchPerBlock = 25 // 5,000 leaked addresses
	benchPool     = "10.180.0.0/18"
	benchNode     = "gcbench-node"
)

// BenchmarkGCPass times one garbage-collection pass that releases 5,000
// leaked addresses (one pod each, so 5,000 handles) spread over 200
// blocks of a live node, against the lab's API server, and counts the
// API requests the pass makes. The collector's client is
// calico-kube-controllers' (its default client-side rate limit
// included). The leak is written straight into the API server before
// each pass (not timed), and a first pass, also not timed, marks the
// allocations as candidates; the timed pass comes after the grace period.
func BenchmarkGCPass(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the lab")
	}
	ctx := context.Background()
	poolObj := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "gcbench"}, Spec: v3.IPPoolSpec{CIDR: benchPool, BlockSize: 26}}
	poolObj.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPPool"))
	v3.Default(poolObj)
	if _, err := testLab.Client.Create(ctx, poolObj); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = testLab.Client.Delete(context.Background(), ipam.KindPool, "", "gcbench", nil) })

	// The fixtures are written without a client-side rate limit.
	setupCfg := rest.CopyConfig(testLab.REST)
	setupCfg.QPS = -1
	setup, err := crdclient.New(setupCfg)
	if err != nil {
		b.Fatal(err)
	}
	var requests atomic.Int64
	cfg := rest.CopyConfig(testLab.REST)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, n: &requests} })
	cl, err := crdclient.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	m := kdd.NewIPAMWith(cl, nil)
	cluster := &cluster{nodes: map[string]bool{benchNode: true}}

	var total time.Duration
	var totalRequests int64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		blocks := writeLeak(b, setup, i)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		c, err := New(Config{IPAM: m, Cluster: cluster, GracePeriod: time.Minute, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		if r, err := c.Sync(ctx); err != nil || r.Candidates != benchBlocks*benchPerBlock {
			b.Fatalf("marking pass: %d candidates, %v", r.Candidates, err)
		}
		now = now.Add(2 * time.Minute)
		requests.Store(0)
		b.StartTimer()
		start := time.Now()
		r, err := c.Sync(ctx)
		took := time.Since(start)
		b.StopTimer()
		total += took
		totalRequests += requests.Load()
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Released) != benchBlocks*benchPerBlock {
			b.Fatalf("released %d addresses, want %d", len(r.Released), benchBlocks*benchPerBlock)
		}
		for _, name := range blocks {
			_ = setup.Delete(ctx, ipam.KindBlock, "", name, nil)
		}
		if left, err := setup.List(ctx, ipam.KindHandle, ""); err != nil || len(left) != 0 {
			b.Fatalf("%d handles left after the pass (%v)", len(left), err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "pass-s")
	b.ReportMetric(float64(totalRequests)/float64(b.N), "api-requests")
}

// writeLeak stores benchBlocks blocks of the pool, each holding
// benchPerBlock addresses of pods that no longer exist, and their
// handles; it returns the blocks' names.
func writeLeak(b *testing.B, c *crdclient.Client, round int) []string {
	b.Helper()
	ctx := context.Background()
	pool := netip.MustParsePrefix(benchPool)
	affinity := "host:" + benchNode
	var names []string
	var objs []v3.Object
	for blk := range benchBlocks {
		base := pool.Addr().As4()
		off := blk * 64
		base[2] += byte(off >> 8)
		base[3] += byte(off & 0xff)
		cidr := netip.PrefixFrom(netip.AddrFrom4(base), 26)
		blockObj := ipam.KindBlock.New().(*v3.IPAMBlock)
		blockObj.Name = ipam.BlockName(cidr)
		claimed := metav1.Now()
		blockObj.Spec = v3.IPAMBlockSpec{CIDR: cidr.String(), Affinity: &affinity, AffinityClaimTime: &claimed,
			Allocations: make([]*int, 64), Unallocated: []int{}, Attributes: []v3.AllocationAttribute{},
			SequenceNumber: 1, SequenceNumberForAllocation: map[string]uint64{}}
		for ord := range 64 {
			if ord >= benchPerBlock {
				blockObj.Spec.Unallocated = append(blockObj.Spec.Unallocated, ord)
				continue
			}
			handle := fmt.Sprintf("gcbench.%d.%d.%d", round, blk, ord)
			idx := len(blockObj.Spec.Attributes)
			blockObj.Spec.Attributes = append(blockObj.Spec.Attributes, v3.AllocationAttribute{HandleID: &handle,
				ActiveOwnerAttrs: map[string]string{ipam.AttrNamespace: "gcbench", ipam.AttrPod: handle, ipam.AttrNode: benchNode}})
			blockObj.Spec.Allocations[ord] = &idx
			blockObj.Spec.SequenceNumberForAllocation[strconv.Itoa(ord)] = 1
			h := ipam.KindHandle.New().(*v3.IPAMHandle)
			h.Name = ipam.HandleName(handle)
			h.Spec = v3.IPAMHandleSpec{HandleID: handle, Block: map[string]int{cidr.String(): 1}}
			objs = append(objs, h)
		}
		names = append(names, blockObj.Name)
		objs = append(objs, blockObj)
	}
	// Sixteen writers at once: about 5,200 creates take seconds.
	work := make(chan v3.Object)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Go(func() {
			for o := range work {
				if _, err := c.Create(ctx, o); err != nil {
					failed.Store(fmt.Errorf("creating %s: %w", o.GetName(), err))
				}
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return names
}
