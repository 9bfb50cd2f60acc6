package ipam

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
)

type env struct {
	t     *testing.T
	s     *memStore
	m     *IPAM
	ctx   context.Context
	now   time.Time
	nodes map[string]map[string]string
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, s: newMemStore(), ctx: context.Background(), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		nodes: map[string]map[string]string{}}
	e.m = New(Options{Store: e.s, Now: func() time.Time { return e.now },
		NodeLabels: func(_ context.Context, n string) (map[string]string, error) {
			l, ok := e.nodes[n]
			if !ok {
				return nil, fmt.Errorf("node %s: %w", n, ErrNotFound)
			}
			return l, nil
		}})
	return e
}

func (e *env) pool(name, cidr string, blockSize int, mutate ...func(*v3.IPPoolSpec)) {
	e.t.Helper()
	p := KindPool.New().(*v3.IPPool)
	p.Name = name
	p.Spec = v3.IPPoolSpec{CIDR: cidr, BlockSize: blockSize}
	for _, f := range mutate {
		f(&p.Spec)
	}
	v3.Default(p)
	if _, err := e.s.Create(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) assign(node, handle string, n4, n6 int) (Assigned, error) {
	return e.m.AutoAssign(e.ctx, AssignArgs{Num4: n4, Num6: n6, HandleID: handle, Node: node,
		Attrs: map[string]string{AttrNode: node, AttrPod: handle}})
}

func (e *env) mustAssign(node, handle string, n4, n6 int) Assigned {
	e.t.Helper()
	a, err := e.assign(node, handle, n4, n6)
	if err != nil {
		e.t.Fatalf("assign %s on %s: %v", handle, node, err)
	}
	return a
}

// consistent requires Check to find nothing wrong.
func (e *env) consistent() Report {
	e.t.Helper()
	r, err := e.m.Check(e.ctx, Owners{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range r.Problems {
		e.t.Errorf("inconsistent: %+v", p)
	}
	return r
}

func TestAutoAssignClaimsBlocksAndCountsHandles(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.65.0.0/24", 28)
	a := e.mustAssign("node-1", "h1", 2, 0)
	if len(a.IPv4) != 2 || a.IPv4[0].Bits() != 28 || !netip.MustParsePrefix("10.65.0.0/24").Contains(a.IPv4[0].Addr()) {
		t.Fatalf("got %v", a.IPv4)
	}
	if a.IPv4[0].Addr() == a.IPv4[1].Addr() {
		t.Fatalf("same address twice: %v", a.IPv4)
	}
	blk := netip.PrefixFrom(a.IPv4[0].Addr(), 28).Masked()
	aff, err := e.s.Get(e.ctx, KindAffinity, AffinityName("node-1", blk))
	if err != nil || aff.(*v3.BlockAffinity).Spec.State != v3.StateConfirmed {
		t.Fatalf("affinity: %v %+v", err, aff)
	}
	h, err := e.s.Get(e.ctx, KindHandle, HandleName("h1"))
	if err != nil || h.(*v3.IPAMHandle).Spec.Block[blk.String()] != 2 {
		t.Fatalf("handle: %v %+v", err, h)
	}
	// The next request on the node uses the same block.
	b := e.mustAssign("node-1", "h2", 1, 0)
	if !blk.Contains(b.IPv4[0].Addr()) {
		t.Errorf("second allocation %v not in the node's block %v", b.IPv4[0], blk)
	}
	// Another node gets a block of its own.
	c := e.mustAssign("node-2", "h3", 1, 0)
	if blk.Contains(c.IPv4[0].Addr()) {
		t.Errorf("node-2 got %v from node-1's block", c.IPv4[0])
	}
	if r := e.consistent(); r.Allocations != 4 || r.Handles != 3 {
		t.Errorf("report %+v", r)
	}
	ips, err := e.m.IPsByHandle(e.ctx, "h1")
	if err != nil || len(ips) != 2 {
		t.Errorf("IPsByHandle: %v %v", ips, err)
	}
	if err := e.m.ReleaseByHandle(e.ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Get(e.ctx, KindHandle, HandleName("h1")); !errors.Is(err, ErrNotFound) {
		t.Errorf("handle survives its release: %v", err)
	}
	if err := e.m.ReleaseByHandle(e.ctx, "h1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second release: %v, want not found", err)
	}
	e.consistent()
}

func TestConcurrentAssignsAreDistinct(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.65.0.0/22", 26)
	e.pool("p6", "fd00:65::/112", 122)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[netip.Addr]string{}
	for i := range 200 {
		wg.Go(func() {
			node := fmt.Sprintf("node-%d", i%3)
			h := fmt.Sprintf("h-%d", i)
			a, err := e.assign(node, h, 1, 1)
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
	if len(seen) != 400 {
		t.Errorf("%d distinct addresses, want 400", len(seen))
	}
	e.consistent()
}

func TestStrictAffinityAndMaxBlocks(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.65.0.0/28", 30) // four blocks of four
	if err := e.m.Configure(e.ctx, func(s *v3.IPAMConfigurationSpec) { s.StrictAffinity = true; s.MaxBlocksPerHost = 2 }); err != nil {
		t.Fatal(err)
	}
	e.mustAssign("node-1", "a", 8, 0)
	_, err := e.assign("node-1", "b", 1, 0)
	if !errors.Is(err, ErrBlockLimit) || !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "maxBlocksPerHost=2") {
		t.Fatalf("ninth address with strict affinity and 2 blocks: %v", err)
	}
	// Nothing half-done from the failure.
	e.consistent()
	// node-2 takes the two blocks left; without strict affinity, node-1
	// (under its limit now) finds no block to claim and borrows from
	// node-2's.
	e.mustAssign("node-2", "c", 5, 0)
	if err := e.m.Configure(e.ctx, func(s *v3.IPAMConfigurationSpec) { s.StrictAffinity = false; s.MaxBlocksPerHost = 3 }); err != nil {
		t.Fatal(err)
	}
	got := e.mustAssign("node-1", "b", 1, 0)
	all, _ := e.m.Allocations(e.ctx)
	for _, al := range all {
		if al.Addr == got.IPv4[0].Addr() && al.Affinity == "host:node-1" {
			t.Errorf("expected a borrowed address, got one from node-1's own block")
		}
	}
	e.consistent()
}

func TestReservationsAndSpecificAddresses(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.65.0.0/28", 29)
	r := KindReservation.New().(*v3.IPReservation)
	r.Name = "res"
	r.Spec.ReservedCIDRs = []string{"10.65.0.0/30", "10.65.0.8/29"}
	if _, err := e.s.Create(e.ctx, r); err != nil {
		t.Fatal(err)
	}
	a := e.mustAssign("node-1", "a", 4, 0)
	for _, p := range a.IPv4 {
		if netip.MustParsePrefix("10.65.0.0/30").Contains(p.Addr()) || netip.MustParsePrefix("10.65.0.8/29").Contains(p.Addr()) {
			t.Errorf("reserved address %v handed out", p)
		}
	}
	if _, err := e.assign("node-1", "b", 1, 0); !errors.Is(err, ErrExhausted) {
		t.Errorf("pool has only reserved addresses left: %v", err)
	}
	err := e.m.AssignIP(e.ctx, AssignIPArgs{IP: netip.MustParseAddr("10.65.0.1"), HandleID: "c", Node: "node-1"})
	if err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("assigning a reserved address: %v", err)
	}
	err = e.m.AssignIP(e.ctx, AssignIPArgs{IP: a.IPv4[0].Addr(), HandleID: "c", Node: "node-1"})
	if !errors.Is(err, ErrInUse) {
		t.Errorf("assigning an address in use: %v", err)
	}
	err = e.m.AssignIP(e.ctx, AssignIPArgs{IP: netip.MustParseAddr("10.66.0.1"), HandleID: "c", Node: "node-1"})
	if !errors.Is(err, ErrNoPools) {
		t.Errorf("assigning outside every pool: %v", err)
	}
	e.consistent()
}

func TestStaleReleaseCannotFreeAReassignedAddress(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.65.0.0/30", 30)
	a := e.mustAssign("node-1", "first", 1, 0)
	ip := a.IPv4[0].Addr()
	all, _ := e.m.Allocations(e.ctx)
	seq := all[0].SequenceNumber
	if _, err := e.m.ReleaseIPs(e.ctx, ReleaseOptions{Address: ip}); err != nil {
		t.Fatal(err)
	}
	// Reassign the same address to a new owner.
	if err := e.m.AssignIP(e.ctx, AssignIPArgs{IP: ip, HandleID: "second", Node: "node-1"}); err != nil {
		t.Fatal(err)
	}
	// A garbage collector that saw the first allocation tries to release it.
	not, err := e.m.ReleaseIPs(e.ctx, ReleaseOptions{Address: ip, SequenceNumber: &seq})
	if err != nil || len(not) != 1 {
		t.Fatalf("stale release: not released %v, err %v", not, err)
	}
	not, err = e.m.ReleaseIPs(e.ctx, ReleaseOptions{Address: ip, Handle: "first"})
	if err != nil || len(not) != 1 {
		t.Fatalf("release with the old handle: not released %v, err %v", not, err)
	}
	if ips, _ := e.m.IPsByHandle(e.ctx, "second"); len(ips) != 1 || ips[0] != ip {
		t.Errorf("the new owner lost its address: %v", ips)
	}
	e.consistent()
}

func TestCooldown(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.65.0.0/31", 31)
	if err := e.m.Configure(e.ctx, func(s *v3.IPAMConfigurationSpec) { c := int32(60); s.IPCooldownSeconds = &c }); err != nil {
		t.Fatal(err)
	}
	e.mustAssign("node-1", "a", 2, 0)
	if err := e.m.ReleaseByHandle(e.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.assign("node-1", "b", 1, 0); !errors.Is(err, ErrExhausted) {
		t.Errorf("released addresses handed out during their cooldown: %v", err)
	}
	e.now = e.now.Add(61 * time.Second)
	e.mustAssign("node-1", "b", 2, 0)
	e.consistent()
}

func TestPoolSelection(t *testing.T) {
	e := newEnv(t)
	e.nodes["node-1"] = map[string]string{"zone": "a"}
	e.nodes["node-2"] = map[string]string{"zone": "b"}
	e.pool("zone-a", "10.65.0.0/24", 26, func(s *v3.IPPoolSpec) { s.NodeSelector = "zone == 'a'" })
	e.pool("off", "10.66.0.0/24", 26, func(s *v3.IPPoolSpec) { s.Disabled = true })
	e.pool("tunnels", "10.67.0.0/24", 26, func(s *v3.IPPoolSpec) { s.AllowedUses = []v3.IPPoolAllowedUse{v3.IPPoolAllowedUseTunnel} })
	e.pool("manual", "10.68.0.0/24", 26, func(s *v3.IPPoolSpec) { m := v3.AssignmentModeManual; s.AssignmentMode = &m })
	a := e.mustAssign("node-1", "a", 1, 0)
	if !netip.MustParsePrefix("10.65.0.0/24").Contains(a.IPv4[0].Addr()) {
		t.Errorf("node-1 got %v", a.IPv4)
	}
	_, err := e.assign("node-2", "b", 1, 0)
	if !errors.Is(err, ErrNoPools) {
		t.Fatalf("node-2 has no pool: %v", err)
	}
	for _, want := range []string{"zone-a: its nodeSelector", "off: it is disabled", "tunnels: its allowedUses", "manual: assignmentMode is Manual"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	got, err := e.m.AutoAssign(e.ctx, AssignArgs{Num4: 1, HandleID: "c", Node: "node-2", IPv4Pools: []string{"manual"}})
	if err != nil || !netip.MustParsePrefix("10.68.0.0/24").Contains(got.IPv4[0].Addr()) {
		t.Errorf("requesting the manual pool: %v %v", got, err)
	}
	_, err = e.m.AutoAssign(e.ctx, AssignArgs{Num4: 1, HandleID: "d", Node: "node-2", IPv4Pools: []string{"off"}})
	if !errors.Is(err, ErrNoPools) || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("requesting a disabled pool: %v", err)
	}
	_, err = e.m.AutoAssign(e.ctx, AssignArgs{Num4: 1, HandleID: "d", Node: "node-2", IPv4Pools: []string{"nope"}})
	if !errors.Is(err, ErrNoPools) || !strings.Contains(err.Error(), `"nope" does not exist`) {
		t.Errorf("requesting a missing pool: %v", err)
	}
	e.consistent()
}

func TestDualStackIsAllOrNothing(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.65.0.0/24", 26)
	if _, err := e.assign("node-1", "a", 1, 1); !errors.Is(err, ErrNoPools) {
		t.Fatalf("no IPv6 pool: %v", err)
	}
	if all, _ := e.m.Allocations(e.ctx); len(all) != 0 {
		t.Errorf("the IPv4 half stayed allocated: %+v", all)
	}
	e.pool("p6", "fd00:65::/120", 122)
	a := e.mustAssign("node-1", "a", 1, 1)
	if len(a.IPv4) != 1 || len(a.IPv6) != 1 || !a.IPv6[0].Addr().Is6() {
		t.Errorf("dual stack: %+v", a)
	}
	e.consistent()
}

// TestFailedWritesLeaveNothingBehind fails every write in turn during an
// assignment: whatever fails, Check finds nothing inconsistent (a handle
// may be counted but never an allocation without one) and a retry
// succeeds.
func TestFailedWritesLeaveNothingBehind(t *testing.T) {
	for fail := 1; ; fail++ {
		e := newEnv(t)
		e.pool("p4", "10.65.0.0/24", 26)
		e.s.failWrite = func(op string, obj v3.Object) error {
			if e.s.writes == fail+1 { // the pool's create was write 1
				return fmt.Errorf("injected failure of %s %s", op, obj.GetName())
			}
			return nil
		}
		_, err := e.assign("node-1", "a", 1, 0)
		e.s.failWrite = nil
		if err == nil {
			if fail < 3 {
				t.Fatalf("write %d failed but the assignment succeeded", fail)
			}
			return
		}
		r, cerr := e.m.Check(e.ctx, Owners{})
		if cerr != nil {
			t.Fatal(cerr)
		}
		for _, p := range r.Problems {
			// An interrupted claim leaves a pending affinity; the next claim
			// by the same node completes it.
			if p.Kind != "pending-affinity" && p.Kind != "handle-count" {
				t.Errorf("failing write %d: %+v", fail, p)
			}
		}
		if r.Allocations != 0 {
			t.Errorf("failing write %d: %d allocations stayed", fail, r.Allocations)
		}
		e.mustAssign("node-1", "a", 1, 0)
		e.consistent()
		if fail > 20 {
			t.Fatal("no end to the writes")
		}
	}
}

func TestReleaseNodeAffinities(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.65.0.0/24", 28)
	e.mustAssign("node-1", "a", 20, 0) // two blocks
	if err := e.m.ReleaseByHandle(e.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	e.mustAssign("node-1", "b", 1, 0)
	if err := e.m.ReleaseNodeAffinities(e.ctx, "node-1"); err != nil {
		t.Fatal(err)
	}
	affs, _ := e.s.List(e.ctx, KindAffinity)
	blocks, _ := e.s.List(e.ctx, KindBlock)
	if len(affs) != 0 || len(blocks) != 1 || blocks[0].(*v3.IPAMBlock).Spec.Affinity != nil {
		t.Errorf("after releasing node-1: %d affinities, blocks %+v", len(affs), blocks)
	}
	e.consistent()
	_ = metav1.Now
}

// A virtual owner (LoadBalancer addresses) takes blocks of its own, with
// a virtual affinity: no node's, in no node's list, and consistent.
func TestVirtualOwner(t *testing.T) {
	e := newEnv(t)
	e.pool("lb", "10.61.0.0/24", 28, func(s *v3.IPPoolSpec) {
		s.AllowedUses = []v3.IPPoolAllowedUse{v3.IPPoolAllowedUseLoadBalancer}
		s.NodeSelector = `lb == "yes"`
	})
	a, err := e.m.AutoAssign(e.ctx, AssignArgs{Num4: 1, HandleID: "lb-1", Node: VirtualPrefix + "load-balancer",
		Use: v3.IPPoolAllowedUseLoadBalancer, Attrs: map[string]string{AttrType: "loadBalancer"}})
	if err != nil {
		t.Fatal(err)
	}
	blocks, _ := e.s.List(e.ctx, KindBlock)
	if len(blocks) != 1 || *blocks[0].(*v3.IPAMBlock).Spec.Affinity != "virtual:load-balancer" {
		t.Fatalf("blocks %+v", blocks)
	}
	if !netip.MustParsePrefix("10.61.0.0/24").Contains(a.IPv4[0].Addr()) {
		t.Errorf("address %v", a.IPv4)
	}
	if nodes, _ := e.m.AffineNodes(e.ctx); len(nodes) != 0 {
		t.Errorf("a virtual owner listed among nodes: %v", nodes)
	}
	// A second address comes from the same block.
	b, err := e.m.AutoAssign(e.ctx, AssignArgs{Num4: 1, HandleID: "lb-2", Node: VirtualPrefix + "load-balancer", Use: v3.IPPoolAllowedUseLoadBalancer})
	if err != nil || a.IPv4[0].Masked() != b.IPv4[0].Masked() {
		t.Errorf("second address %v from another block than %v (%v)", b.IPv4, a.IPv4, err)
	}
	// Workloads may not use the pool.
	if _, err := e.assign("node-1", "pod", 1, 0); err == nil {
		t.Errorf("a workload got an address from a LoadBalancer pool")
	}
	e.consistent()
}

// TestAssignIPOnlyFromEnabledPools: a specific address is taken only from
// an enabled pool, as Calico's; one whose pool is disabled is refused
// with an error naming the address and the pool, and nothing is written.
func TestAssignIPOnlyFromEnabledPools(t *testing.T) {
	e := newEnv(t)
	e.pool("off", "10.67.0.0/24", 26, func(s *v3.IPPoolSpec) { s.Disabled = true })
	writes := e.s.writes
	err := e.m.AssignIP(e.ctx, AssignIPArgs{IP: netip.MustParseAddr("10.67.0.5"), HandleID: "a", Node: "node-1"})
	if !errors.Is(err, ErrNoPools) || !strings.Contains(err.Error(), "10.67.0.5") || !strings.Contains(err.Error(), "pool off") ||
		!strings.Contains(err.Error(), "disabled") {
		t.Errorf("address in a disabled pool: %v", err)
	}
	if e.s.writes != writes {
		t.Errorf("a refused assignment wrote %d object(s)", e.s.writes-writes)
	}
	// An enabled pool covering the same address is used.
	e.pool("on", "10.67.0.0/25", 26)
	if err := e.m.AssignIP(e.ctx, AssignIPArgs{IP: netip.MustParseAddr("10.67.0.5"), HandleID: "a", Node: "node-1"}); err != nil {
		t.Errorf("address also in an enabled pool: %v", err)
	}
	if ips, err := e.m.IPsByHandle(e.ctx, "a"); err != nil || len(ips) != 1 {
		t.Errorf("after assigning: %v %v", ips, err)
	}
	e.consistent()
}

// TestReleaseFromAStaleRead: releases start from a read of the blocks
// taken earlier; a block written since is read again and the release
// worked out afresh, so an address released and handed to someone else
// meanwhile is not freed, and the others are, in one write per block.
func TestReleaseFromAStaleRead(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.68.0.0/29", 30) // two blocks of 4
	var leaked []Allocation
	for i := range 6 {
		e.mustAssign("node-1", fmt.Sprintf("h%d", i), 1, 0)
	}
	blocks, err := e.m.ReadBlocks(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaked = blocks.Allocations()
	if len(leaked) != 6 || blocks.Len() != 2 {
		t.Fatalf("read %d allocations in %d blocks", len(leaked), blocks.Len())
	}
	// Meanwhile h0's address is released and reassigned to "new".
	if err := e.m.ReleaseByHandle(e.ctx, "h0"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.AssignIP(e.ctx, AssignIPArgs{IP: leaked[0].Addr, HandleID: "new", Node: "node-1"}); err != nil {
		t.Fatal(err)
	}
	var opts []ReleaseOptions
	for _, al := range leaked {
		seq := al.SequenceNumber
		opts = append(opts, ReleaseOptions{Address: al.Addr, Handle: al.Handle, SequenceNumber: &seq})
	}
	writes := e.s.writes
	rep, err := e.m.ReleaseFrom(e.ctx, blocks, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Released) != 5 || !slices.Equal(rep.NotAllocated, []netip.Addr{leaked[0].Addr}) || len(rep.Failed) != 0 {
		t.Errorf("report %+v", rep)
	}
	// Two block writes and five handle deletions.
	if got := e.s.writes - writes; got != 7 {
		t.Errorf("%d writes, want 7", got)
	}
	if ips, _ := e.m.IPsByHandle(e.ctx, "new"); !slices.Equal(ips, []netip.Addr{leaked[0].Addr}) {
		t.Errorf("the new owner lost its address: %v", ips)
	}
	if r := e.consistent(); r.Allocations != 1 || r.Handles != 1 {
		t.Errorf("report %+v", r)
	}
}
