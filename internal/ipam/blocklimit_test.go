package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	v3 "github.com/calicong/calico/api/v3"
)

// fillBlocks has node take n blocks of a pool of /30 blocks (4
// addresses each), one handle per block.
func (e *env) fillBlocks(node, prefix string, n int) {
	e.t.Helper()
	for i := range n {
		e.mustAssign(node, prefix+string(rune('a'+i/26))+string(rune('a'+i%26)), 4, 0)
	}
}

// TestDefaultBlockLimit: with no IPAMConfiguration, or one whose
// maxBlocksPerHost is 0 (absent), a node holds at most 20 blocks, as
// Calico's autoAssign (libcalico-go/lib/ipam/ipam.go: a limit of 0 falls
// back to 20); at the limit the request fails, even without strict
// affinity, rather than borrowing (findOrClaimBlock's ErrBlockLimit).
func TestDefaultBlockLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config func(e *env)
	}{
		{"no IPAMConfiguration", func(*env) {}},
		{"maxBlocksPerHost 0", func(e *env) {
			if err := e.m.Configure(e.ctx, func(s *v3.IPAMConfigurationSpec) { s.MaxBlocksPerHost = 0 }); err != nil {
				e.t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.pool("p4", "10.62.0.0/24", 30) // 64 blocks of 4
			tc.config(e)
			// node-b's block has room to borrow from.
			e.mustAssign("node-b", "b", 1, 0)
			e.fillBlocks("node-a", "a", 20)
			_, err := e.assign("node-a", "one-more", 1, 0)
			if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "maxBlocksPerHost=20") {
				t.Fatalf("an address beyond 20 full blocks: %v, want the block limit of 20", err)
			}
			if n := len(e.affinitiesOf("node-a")); n != 20 {
				t.Errorf("node-a holds %d blocks, want 20", n)
			}
			e.consistent()
		})
	}
}

// TestBlockLimitIsPerFamilyAndPool: the limit counts the node's blocks of
// the family being assigned, in the pools usable for the request, as
// Calico's autoAssign counts the affine blocks
// prepareAffinityBlocksForHost returns (one IP version, filtered by the
// pools).
func TestBlockLimitIsPerFamilyAndPool(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.62.0.0/24", 30)
	e.pool("other", "10.63.0.0/24", 30, func(s *v3.IPPoolSpec) { m := v3.AssignmentModeManual; s.AssignmentMode = &m })
	e.pool("p6", "fd00:62::/120", 126)
	if err := e.m.Configure(e.ctx, func(s *v3.IPAMConfigurationSpec) { s.StrictAffinity = true; s.MaxBlocksPerHost = 2 }); err != nil {
		t.Fatal(err)
	}
	e.fillBlocks("node-a", "a", 2)
	if _, err := e.assign("node-a", "v4", 1, 0); !errors.Is(err, ErrExhausted) {
		t.Fatalf("a third IPv4 block: %v", err)
	}
	// IPv6 blocks are counted apart.
	if _, err := e.assign("node-a", "v6", 0, 1); err != nil {
		t.Errorf("an IPv6 address with two IPv4 blocks and maxBlocksPerHost=2: %v", err)
	}
	// So are blocks of pools the request does not use.
	a, err := e.m.AutoAssign(e.ctx, AssignArgs{Num4: 1, HandleID: "other", Node: "node-a", IPv4Pools: []string{"other"}})
	if err != nil || !netip.MustParsePrefix("10.63.0.0/24").Contains(a.IPv4[0].Addr()) {
		t.Errorf("an address of pool other with two blocks of p4 and maxBlocksPerHost=2: %v %v", a, err)
	}
	e.consistent()
}
