package kdd_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/poll"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

func pool(t *testing.T, name, cidr string, blockSize int) { poolB(t, name, cidr, blockSize) }

func poolB(t testing.TB, name, cidr string, blockSize int) {
	t.Helper()
	p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.IPPoolSpec{CIDR: cidr, BlockSize: blockSize}}
	p.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPPool"))
	v3.Default(p)
	if _, err := testLab.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testLab.Client.Delete(context.Background(), ipam.KindPool, "", name, nil) })
	// The allocator lists pools from the API server's watch cache, which
	// may lag a write on a busy machine: wait until the pool is there.
	poll.Until(t, 10*time.Second, "pool "+name+" in the watch cache", func() bool {
		pools, _ := testLab.Client.ListCached(context.Background(), ipam.KindPool, "")
		for _, o := range pools {
			if o.GetName() == name {
				return true
			}
		}
		return false
	})
}

// TestConcurrentAssignsAgainstTheAPIServer: 200 concurrent requests from
// three nodes against the real API server get 200 distinct IPv4 and 200
// distinct IPv6 addresses, the stored objects are consistent, and
// releasing every handle leaves no allocation.
func TestConcurrentAssignsAgainstTheAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	ctx := context.Background()
	pool(t, "kdd-v4", "10.80.0.0/22", 26)
	pool(t, "kdd-v6", "fd00:80::/112", 122)
	m := testLab.Client.IPAM()
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[netip.Addr]string{}
	// Requests on one node are serialised, as the CNI plugin's host lock
	// does; the nodes race each other.
	var nodeLocks [3]sync.Mutex
	start := time.Now()
	for i := range 200 {
		wg.Go(func() {
			node := fmt.Sprintf("kdd-node-%d", i%3)
			h := fmt.Sprintf("kdd-h-%d", i)
			nodeLocks[i%3].Lock()
			defer nodeLocks[i%3].Unlock()
			a, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, Num6: 1, HandleID: h, Node: node,
				Attrs: map[string]string{ipam.AttrNode: node}})
			if err != nil {
				t.Errorf("%s: %v", h, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range append(a.IPv4, a.IPv6...) {
				if other, ok := seen[p.Addr()]; ok {
					t.Errorf("%s given to %s and %s", p.Addr(), other, h)
				}
				seen[p.Addr()] = h
			}
		})
	}
	wg.Wait()
	t.Logf("200 dual-stack assignments from 3 nodes in %v", time.Since(start))
	if len(seen) != 400 {
		t.Fatalf("%d distinct addresses, want 400", len(seen))
	}
	r, err := m.Check(ctx, ipam.Owners{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) > 0 || r.Allocations != 400 {
		t.Fatalf("check: %+v", r)
	}
	for i := range 200 {
		if err := m.ReleaseByHandle(ctx, fmt.Sprintf("kdd-h-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if all, _ := m.Allocations(ctx); len(all) != 0 {
		t.Errorf("%d allocations after releasing every handle", len(all))
	}
	for _, n := range []string{"kdd-node-0", "kdd-node-1", "kdd-node-2"} {
		if err := m.ReleaseNodeAffinities(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := m.Check(ctx, ipam.Owners{}); r.Blocks != 0 || len(r.Problems) > 0 {
		t.Errorf("after releasing the nodes: %+v", r)
	}
}
