package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	v3 "github.com/calicong/calico/api/v3"
)

// Blocks is one read of every block: what a caller looks at before it
// releases (the garbage collector), and the starting point of the
// compare-and-swap writes that release (a block changed since is read
// again), so that a pass reads the blocks once.
type Blocks struct {
	objs map[netip.Prefix]*v3.IPAMBlock
	// bits are the prefix lengths the blocks have (one or two per family).
	bits []int
}

// ReadBlocks reads every block, consistently.
func (m *IPAM) ReadBlocks(ctx context.Context) (*Blocks, error) {
	objs, err := m.store.List(ctx, KindBlock)
	if err != nil {
		return nil, fmt.Errorf("listing blocks: %w", err)
	}
	bs := &Blocks{objs: make(map[netip.Prefix]*v3.IPAMBlock, len(objs))}
	for _, o := range objs {
		b := o.(*v3.IPAMBlock)
		c, err := netip.ParsePrefix(b.Spec.CIDR)
		if err != nil {
			continue // validation rejects these before they are stored
		}
		c = c.Masked()
		bs.objs[c] = b
		if !slices.Contains(bs.bits, c.Bits()) {
			bs.bits = append(bs.bits, c.Bits())
		}
	}
	return bs, nil
}

// Len is the number of blocks.
func (bs *Blocks) Len() int { return len(bs.objs) }

// Allocations lists every address held in the blocks, in address order.
func (bs *Blocks) Allocations() []Allocation {
	var out []Allocation
	for _, o := range bs.objs {
		b, err := newBlock(o)
		if err != nil {
			continue
		}
		out = append(out, b.allocations()...)
	}
	slices.SortFunc(out, func(x, y Allocation) int { return x.Addr.Compare(y.Addr) })
	return out
}

// blockOf is the block holding an address.
func (bs *Blocks) blockOf(a netip.Addr) (netip.Prefix, bool) {
	for _, bits := range bs.bits {
		if bits > a.BitLen() {
			continue
		}
		c := netip.PrefixFrom(a, bits).Masked()
		if _, ok := bs.objs[c]; ok {
			return c, true
		}
	}
	return netip.Prefix{}, false
}

// ReleaseReport is what a release did with each address asked for.
type ReleaseReport struct {
	Released []netip.Addr
	// NotAllocated were not allocated, or no longer the allocation named
	// (another handle or sequence number): someone released them, and
	// perhaps handed them out again.
	NotAllocated []netip.Addr
	// Failed are in blocks that could not be written (the error says
	// why); they are still allocated.
	Failed []netip.Addr
}

// ReleaseFrom releases addresses, starting from blocks as read by
// ReadBlocks: the addresses are grouped by block, and each block is
// written once, compare-and-swap (a block that changed since it was read
// is read again and the release worked out afresh), so an address
// reassigned meanwhile is never freed if the handle or sequence number
// was given. A block's releases land together or not at all. A block
// whose write fails does not stop the others: its addresses are reported
// as failed and the errors are joined. The handles are then counted down,
// each once for all its blocks, and deleted when nothing is left.
func (m *IPAM) ReleaseFrom(ctx context.Context, blocks *Blocks, opts ...ReleaseOptions) (ReleaseReport, error) {
	var rep ReleaseReport
	if len(opts) == 0 {
		return rep, nil
	}
	settings, err := m.Settings(ctx)
	if err != nil {
		return rep, err
	}
	byBlock := map[netip.Prefix][]ReleaseOptions{}
	for _, o := range opts {
		if c, ok := blocks.blockOf(o.Address); ok {
			byBlock[c] = append(byBlock[c], o)
		} else {
			rep.NotAllocated = append(rep.NotAllocated, o.Address)
		}
	}
	cidrs := make([]netip.Prefix, 0, len(byBlock))
	for c := range byBlock {
		cidrs = append(cidrs, c)
	}
	slices.SortFunc(cidrs, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
	var errs []error
	// handle → block → how many of its addresses were released there.
	countDown := map[string]map[string]int{}
	for _, c := range cidrs {
		released, not, handles, err := m.releaseInBlock(ctx, c, blocks.objs[c], byBlock[c], settings.Cooldown)
		if err != nil {
			for _, o := range byBlock[c] {
				rep.Failed = append(rep.Failed, o.Address)
			}
			errs = append(errs, err)
			continue
		}
		rep.Released = append(rep.Released, released...)
		rep.NotAllocated = append(rep.NotAllocated, not...)
		for h, n := range handles {
			if h == "" {
				continue
			}
			if countDown[h] == nil {
				countDown[h] = map[string]int{}
			}
			countDown[h][c.String()] += n
		}
	}
	m.countDownHandles(ctx, countDown)
	return rep, errors.Join(errs...)
}

// releaseInBlock releases addresses of one block in one write (starting
// from first, if not nil), and says which handles lost how many.
func (m *IPAM) releaseInBlock(ctx context.Context, cidr netip.Prefix, first *v3.IPAMBlock, opts []ReleaseOptions, cooldown time.Duration) (released, not []netip.Addr, handles map[string]int, err error) {
	err = m.updateBlock(ctx, cidr, first, func(b *block) bool {
		released, not, handles = nil, nil, map[string]int{}
		for _, ro := range opts {
			ord := b.ordinal(ro.Address)
			if ord < 0 || !b.inUse(ord) || b.released(ord) {
				not = append(not, ro.Address)
				continue
			}
			h := b.handleOf(ord)
			if (ro.Handle != "" && ro.Handle != h) || (ro.SequenceNumber != nil && *ro.SequenceNumber != b.sequenceOf(ord)) {
				not = append(not, ro.Address)
				continue
			}
			b.release(ord, m.now(), cooldown)
			released = append(released, ro.Address)
			handles[h]++
		}
		return len(released) > 0
	})
	if errors.Is(err, ErrNotFound) {
		// The block is gone, and with it every allocation it held.
		var all []netip.Addr
		for _, o := range opts {
			all = append(all, o.Address)
		}
		return nil, all, nil, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return released, not, handles, nil
}

// handleListThreshold is the number of handles to count down from which
// they are listed at once (one request) rather than read one by one.
const handleListThreshold = 64

// countDownHandles takes released addresses off their handles: for each
// handle, the number released per block. A handle left with nothing is
// deleted. Failures are logged, not returned: the addresses are released
// already, and the handle count that disagrees with the blocks is what
// Check reports.
func (m *IPAM) countDownHandles(ctx context.Context, countDown map[string]map[string]int) {
	if len(countDown) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	// Many handles (a garbage-collection pass): one list, from the cache,
	// saves a read per handle; a stale one just fails its
	// compare-and-swap and is read again.
	listed := map[string]*v3.IPAMHandle{}
	if len(countDown) >= handleListThreshold {
		if objs, err := m.listCached(ctx, KindHandle); err == nil {
			for _, o := range objs {
				listed[o.GetName()] = o.(*v3.IPAMHandle)
			}
		}
	}
	names := make([]string, 0, len(countDown))
	for h := range countDown {
		names = append(names, h)
	}
	slices.Sort(names)
	for _, h := range names {
		if err := m.changeHandle(ctx, h, countDown[h], listed[HandleName(h)]); err != nil {
			m.log.Warn("counting down a handle", "handle", h, "err", err)
		}
	}
}

// changeHandle takes per-block counts off a handle, compare-and-swap,
// starting from cur if not nil; a handle left with nothing is deleted, a
// missing one is left alone.
func (m *IPAM) changeHandle(ctx context.Context, handle string, minus map[string]int, cur *v3.IPAMHandle) error {
	for range maxRetries {
		if cur == nil {
			o, err := m.store.Get(ctx, KindHandle, HandleName(handle))
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading handle %s: %w", handle, err)
			}
			cur = o.(*v3.IPAMHandle)
		}
		h := cur.DeepCopy()
		cur = nil
		if h.Spec.Block == nil {
			h.Spec.Block = map[string]int{}
		}
		for key, n := range minus {
			h.Spec.Block[key] -= n
			if h.Spec.Block[key] <= 0 {
				delete(h.Spec.Block, key)
			}
		}
		if conflict, err := m.writeHandle(ctx, h, handle); !conflict {
			return err
		}
	}
	return fmt.Errorf("handle %s: %w after %d tries", handle, ErrConflict, maxRetries)
}
