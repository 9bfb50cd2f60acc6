package ipam

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/selector"
)

// pool is an IPPool ready for use.
type pool struct {
	name      string
	cidr      netip.Prefix
	blockBits int
	obj       *v3.IPPool
}

func (p pool) v6() bool { return p.cidr.Addr().Is6() }

// numBlocks is how many blocks the pool holds (capped: IPv6 pools can
// hold more than an int counts).
func (p pool) numBlocks() uint64 {
	shift := p.blockBits - p.cidr.Bits()
	if shift >= 62 {
		return 1 << 62
	}
	return 1 << shift
}

// blockAt is the pool's i-th block.
func (p pool) blockAt(i uint64) netip.Prefix {
	base := new(big.Int).SetBytes(p.cidr.Addr().AsSlice())
	off := new(big.Int).Lsh(new(big.Int).SetUint64(i), uint(p.cidr.Addr().BitLen()-p.blockBits))
	buf := make([]byte, p.cidr.Addr().BitLen()/8)
	base.Add(base, off).FillBytes(buf)
	a, _ := netip.AddrFromSlice(buf)
	return netip.PrefixFrom(a, p.blockBits)
}

// loadPools reads the pools and checks each.
func (m *IPAM) loadPools(ctx context.Context) ([]pool, error) {
	objs, err := m.listCached(ctx, KindPool)
	if err != nil {
		return nil, fmt.Errorf("listing IP pools: %w", err)
	}
	var out []pool
	for _, o := range objs {
		ip := o.(*v3.IPPool).DeepCopy()
		v3.Default(ip)
		c, err := netip.ParsePrefix(ip.Spec.CIDR)
		if err != nil {
			continue // validation rejects these before they are stored
		}
		out = append(out, pool{name: ip.Name, cidr: c.Masked(), blockBits: ip.Spec.BlockSize, obj: ip})
	}
	slices.SortFunc(out, func(a, b pool) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// usablePools picks the pools a request may draw from, in order: the
// requested ones (by name or CIDR) in the order given, else every enabled,
// automatic pool that allows the use and selects the node and namespace.
func (m *IPAM) usablePools(ctx context.Context, all []pool, v6 bool, requested []string, node string, use v3.IPPoolAllowedUse, nsLabels map[string]string) ([]pool, error) {
	var nodeLabels map[string]string
	needLabels := true
	nodeOK := func(p pool) (bool, error) {
		sel := p.obj.Spec.NodeSelector
		if sel == "" || sel == "all()" || strings.HasPrefix(node, VirtualPrefix) {
			return true, nil // a virtual owner is no node to select
		}
		if needLabels {
			needLabels = false
			if m.nodeLabels != nil {
				l, err := m.nodeLabels(ctx, node)
				if err != nil {
					return false, fmt.Errorf("reading node %s for pool %s's nodeSelector: %w", node, p.name, err)
				}
				nodeLabels = l
			}
		}
		s, err := selector.Parse(sel)
		if err != nil {
			return false, fmt.Errorf("pool %s: nodeSelector: %w", p.name, err)
		}
		return s.Evaluate(nodeLabels), nil
	}
	fits := func(p pool) (string, error) {
		switch {
		case p.obj.Spec.Disabled:
			return "it is disabled", nil
		case !slices.Contains(p.obj.Spec.AllowedUses, use):
			return fmt.Sprintf("its allowedUses do not include %s", use), nil
		}
		ok, err := nodeOK(p)
		if err != nil {
			return "", err
		}
		if !ok {
			return fmt.Sprintf("its nodeSelector does not select node %s", node), nil
		}
		if sel := p.obj.Spec.NamespaceSelector; sel != "" && nsLabels != nil {
			s, err := selector.Parse(sel)
			if err != nil {
				return "", fmt.Errorf("pool %s: namespaceSelector: %w", p.name, err)
			}
			if !s.Evaluate(nsLabels) {
				return "its namespaceSelector does not select the namespace", nil
			}
		}
		return "", nil
	}
	family := "IPv4"
	if v6 {
		family = "IPv6"
	}
	if len(requested) > 0 {
		var out []pool
		for _, r := range requested {
			i := slices.IndexFunc(all, func(p pool) bool {
				if p.name == r {
					return true
				}
				c, err := netip.ParsePrefix(r)
				return err == nil && c.Masked() == p.cidr
			})
			if i < 0 {
				return nil, fmt.Errorf("%w: requested pool %q does not exist", ErrNoPools, r)
			}
			p := all[i]
			if p.v6() != v6 {
				return nil, fmt.Errorf("%w: requested pool %q is not an %s pool", ErrNoPools, r, family)
			}
			why, err := fits(p)
			if err != nil {
				return nil, err
			}
			if why != "" {
				return nil, fmt.Errorf("%w: requested pool %q cannot be used: %s", ErrNoPools, r, why)
			}
			out = append(out, p)
		}
		return out, nil
	}
	var out []pool
	var reasons []string
	for _, p := range all {
		if p.v6() != v6 {
			continue
		}
		if m := p.obj.Spec.AssignmentMode; m != nil && *m == v3.AssignmentModeManual {
			reasons = append(reasons, p.name+": assignmentMode is Manual (request it by name)")
			continue
		}
		why, err := fits(p)
		if err != nil {
			return nil, err
		}
		if why != "" {
			reasons = append(reasons, p.name+": "+why)
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		why := fmt.Sprintf("there are no %s pools: create an IPPool", family)
		if len(reasons) > 0 {
			why = strings.Join(reasons, "; ")
		}
		return nil, fmt.Errorf("%w: no %s pool may be used on node %s (%s)", ErrNoPools, family, node, why)
	}
	return out, nil
}

// candidates yields a pool's blocks in an order that differs per node
// (so nodes do not all race for the same block): a permutation for pools
// of up to 2^16 blocks, random picks for larger ones.
func (p pool) candidates(node string, yield func(netip.Prefix) bool) {
	h := fnv.New64a()
	h.Write([]byte(node))
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(p.cidr.Bits())))
	n := p.numBlocks()
	if n <= 1<<16 {
		for _, i := range r.Perm(int(n)) {
			if !yield(p.blockAt(uint64(i))) {
				return
			}
		}
		return
	}
	for range 4096 {
		if !yield(p.blockAt(r.Uint64N(n))) {
			return
		}
	}
}

// reservations is the set of reserved ranges.
type reservations []netip.Prefix

func (m *IPAM) loadReservations(ctx context.Context) (reservations, error) {
	objs, err := m.listCached(ctx, KindReservation)
	if err != nil {
		return nil, fmt.Errorf("listing IP reservations: %w", err)
	}
	var out reservations
	for _, o := range objs {
		for _, c := range o.(*v3.IPReservation).Spec.ReservedCIDRs {
			if p, err := netip.ParsePrefix(c); err == nil {
				out = append(out, p.Masked())
			} else if a, err := netip.ParseAddr(c); err == nil {
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	return out, nil
}

func (r reservations) contains(a netip.Addr) bool {
	for _, p := range r {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// covers tells whether a reservation covers a whole block.
func (r reservations) covers(b netip.Prefix) bool {
	for _, p := range r {
		if p.Bits() <= b.Bits() && p.Contains(b.Addr()) {
			return true
		}
	}
	return false
}

// PoolUsage is one IP pool's size and how much of it is allocated.
type PoolUsage struct {
	Name string
	CIDR netip.Prefix
	// Size is the pool's addresses (2^(bits) as a float: IPv6 pools are
	// larger than any integer).
	Size float64
	// InUse counts the allocations (not cooling down) in the pool.
	InUse int
}

// PoolUsage tells each pool's size and use, from a read of the
// allocations; an allocation in no pool (its pool deleted) counts
// nowhere.
func (m *IPAM) PoolUsage(ctx context.Context, allocs []Allocation) ([]PoolUsage, error) {
	pools, err := m.loadPools(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PoolUsage, len(pools))
	for i, p := range pools {
		out[i] = PoolUsage{Name: p.name, CIDR: p.cidr, Size: math.Exp2(float64(p.cidr.Addr().BitLen() - p.cidr.Bits()))}
	}
	for _, a := range allocs {
		if a.Released {
			continue
		}
		for i := range out {
			if out[i].CIDR.Contains(a.Addr) {
				out[i].InUse++
				break
			}
		}
	}
	return out, nil
}
