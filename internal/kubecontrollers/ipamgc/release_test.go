package ipamgc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/ipam/kdd"
)

// recordingStore counts the lists of blocks the allocator makes, and the
// reads and writes of the blocks whose names start with watch (other
// tests' leftovers may be collected too), and fails the writes of the
// blocks named in failWrites.
type recordingStore struct {
	ipam.Store
	watch                            string
	mu                               sync.Mutex
	blockLists, blockGets, blockPuts int
	failWrites                       map[string]bool
}

func (s *recordingStore) List(ctx context.Context, kind v3.KindInfo) ([]v3.Object, error) {
	if kind.Kind == ipam.KindBlock.Kind {
		s.mu.Lock()
		s.blockLists++
		s.mu.Unlock()
	}
	return s.Store.List(ctx, kind)
}

func (s *recordingStore) Get(ctx context.Context, kind v3.KindInfo, name string) (v3.Object, error) {
	if kind.Kind == ipam.KindBlock.Kind && strings.HasPrefix(name, s.watch) {
		s.mu.Lock()
		s.blockGets++
		s.mu.Unlock()
	}
	return s.Store.Get(ctx, kind, name)
}

func (s *recordingStore) Update(ctx context.Context, obj v3.Object) (v3.Object, error) {
	if b, ok := obj.(*v3.IPAMBlock); ok {
		s.mu.Lock()
		if strings.HasPrefix(b.Name, s.watch) {
			s.blockPuts++
		}
		fail := s.failWrites[b.Name]
		s.mu.Unlock()
		if fail {
			return nil, fmt.Errorf("injected: writing block %s failed", b.Name)
		}
	}
	return s.Store.Update(ctx, obj)
}

func (s *recordingStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blockLists, s.blockGets, s.blockPuts = 0, 0, 0
}

func gcPool(t *testing.T, name, cidr string, blockSize int) {
	t.Helper()
	p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.IPPoolSpec{CIDR: cidr, BlockSize: blockSize}}
	p.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPPool"))
	v3.Default(p)
	if _, err := testLab.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testLab.Client.Delete(context.Background(), ipam.KindPool, "", name, nil) })
}

// liveNodes are the node given and every node holding blocks (so that the
// collector under test cleans up after no other test's nodes).
func liveNodes(t *testing.T, m *ipam.IPAM, node string) map[string]bool {
	t.Helper()
	nodes, err := m.AffineNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{node: true}
	for _, n := range nodes {
		live[n] = true
	}
	return live
}

// poolProblems are Check's problems that concern a pool's addresses.
func poolProblems(t *testing.T, m *ipam.IPAM, pools ...netip.Prefix) []ipam.Problem {
	t.Helper()
	r, err := m.Check(context.Background(), ipam.Owners{})
	if err != nil {
		t.Fatal(err)
	}
	var out []ipam.Problem
	for _, p := range r.Problems {
		for _, pool := range pools {
			if (p.IP != "" && pool.Contains(netip.MustParseAddr(p.IP))) || strings.Contains(p.Detail, pool.Masked().Addr().String()) {
				out = append(out, p)
			}
		}
	}
	return out
}

// TestPassReleasesPerBlock: a pass that releases leaked addresses spread
// over several blocks reads the blocks once and writes each block once,
// however many of its addresses it releases (it used to list every block
// and write once per address).
func TestPassReleasesPerBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	ctx := context.Background()
	gcPool(t, "gc-batch", "10.93.0.0/26", 30) // blocks of 4 addresses
	m := testLab.Client.IPAM()
	t.Cleanup(func() { _ = m.ReleaseNodeAffinities(context.Background(), "gcb-a") })
	var leaked []netip.Addr
	for i := range 12 {
		a, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: fmt.Sprintf("gcb.%d", i), Node: "gcb-a",
			Attrs: map[string]string{ipam.AttrNamespace: "ns", ipam.AttrPod: fmt.Sprintf("p%d", i), ipam.AttrNode: "gcb-a"}})
		if err != nil {
			t.Fatal(err)
		}
		leaked = append(leaked, a.IPv4[0].Addr())
	}
	slices.SortFunc(leaked, netip.Addr.Compare)
	store := &recordingStore{Store: kdd.New(testLab.Client.Client), watch: "10-93-0-"}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := New(Config{IPAM: ipam.New(ipam.Options{Store: store}), Cluster: &cluster{nodes: liveNodes(t, m, "gcb-a")},
		GracePeriod: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	store.reset()
	r, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var released []netip.Addr
	for _, a := range r.Released {
		if netip.MustParsePrefix("10.93.0.0/26").Contains(a) {
			released = append(released, a)
		}
	}
	slices.SortFunc(released, netip.Addr.Compare)
	if !slices.Equal(released, leaked) {
		t.Fatalf("released %v, want %v", released, leaked)
	}
	// Three blocks of the pool hold the leaked addresses.
	if store.blockLists != 1 || store.blockGets != 0 || store.blockPuts != 3 {
		t.Errorf("the pass listed the blocks %d times, read blocks %d times and wrote blocks %d times; want 1, 0 and 3 (one per block)",
			store.blockLists, store.blockGets, store.blockPuts)
	}
	for i := range 12 {
		if _, err := m.IPsByHandle(ctx, fmt.Sprintf("gcb.%d", i)); !errors.Is(err, ipam.ErrNotFound) {
			t.Errorf("handle gcb.%d after the pass: %v", i, err)
		}
	}
	if p := poolProblems(t, m, netip.MustParsePrefix("10.93.0.0/26")); len(p) > 0 {
		t.Errorf("after the pass: %+v", p)
	}
}

// TestPassFailingPartWay: what is promised when a pass fails part-way
// through a handle. A dual-stack pod's handle has an address in an IPv4
// block and one in an IPv6 block; the IPv6 block's write fails. The pass
// reports the error; the IPv4 address is released and taken off the
// handle (whose count still agrees with the blocks); the IPv6 address
// stays allocated and is released by the next pass without a new grace
// period, which deletes the handle.
func TestPassFailingPartWay(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	ctx := context.Background()
	gcPool(t, "gc-part4", "10.97.0.0/28", 28)
	gcPool(t, "gc-part6", "fd00:97::/124", 124)
	m := testLab.Client.IPAM()
	t.Cleanup(func() { _ = m.ReleaseNodeAffinities(context.Background(), "gcp-a") })
	a, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, Num6: 1, HandleID: "gcp.1", Node: "gcp-a",
		Attrs: map[string]string{ipam.AttrNamespace: "ns", ipam.AttrPod: "gone", ipam.AttrNode: "gcp-a"}})
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := a.IPv4[0].Addr(), a.IPv6[0].Addr()
	store := &recordingStore{Store: kdd.New(testLab.Client.Client),
		failWrites: map[string]bool{ipam.BlockName(netip.MustParsePrefix("fd00:97::/124")): true}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := New(Config{IPAM: ipam.New(ipam.Options{Store: store}), Cluster: &cluster{nodes: liveNodes(t, m, "gcp-a")},
		GracePeriod: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	r, err := c.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("pass with the IPv6 block unwritable: %v", err)
	}
	if !slices.Contains(r.Released, v4) || slices.Contains(r.Released, v6) {
		t.Errorf("pass with the IPv6 block unwritable released %v; want %s and not %s", r.Released, v4, v6)
	}
	held, err := m.IPsByHandle(ctx, "gcp.1")
	if err != nil || !slices.Equal(held, []netip.Addr{v6}) {
		t.Errorf("the handle holds %v (%v), want only %s", held, err, v6)
	}
	pools := []netip.Prefix{netip.MustParsePrefix("10.97.0.0/28"), netip.MustParsePrefix("fd00:97::/124")}
	if p := poolProblems(t, m, pools...); len(p) > 0 {
		t.Errorf("after the failed pass: %+v", p)
	}
	// The next pass (the block writable again, no time passed) finishes.
	store.mu.Lock()
	store.failWrites = nil
	store.mu.Unlock()
	r, err = c.Sync(ctx)
	if err != nil || !slices.Contains(r.Released, v6) {
		t.Fatalf("next pass: released %v, %v; want %s", r.Released, err, v6)
	}
	if _, err := m.IPsByHandle(ctx, "gcp.1"); !errors.Is(err, ipam.ErrNotFound) {
		t.Errorf("handle after the next pass: %v", err)
	}
	if p := poolProblems(t, m, pools...); len(p) > 0 {
		t.Errorf("after the next pass: %+v", p)
	}
}
