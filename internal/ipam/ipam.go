package ipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	v3 "github.com/calicong/calico/api/v3"
)

// maxRetries bounds compare-and-swap loops.
const maxRetries = 100

// DefaultMaxBlocksPerHost is the block limit of a node when
// IPAMConfiguration does not set one: no object, or maxBlocksPerHost 0 or
// absent. As Calico's autoAssign (libcalico-go/lib/ipam/ipam.go), 0 means
// this default, not unlimited.
const DefaultMaxBlocksPerHost = 20

// Options assemble an IPAM.
type Options struct {
	Store Store
	// NodeLabels returns a node's labels, for pools' nodeSelector (nil:
	// nodes have no labels).
	NodeLabels func(ctx context.Context, node string) (map[string]string, error)
	Now        func() time.Time
	Log        *slog.Logger
}

// IPAM is the allocator. It holds no state between calls: everything is
// in the Store.
type IPAM struct {
	store      Store
	nodeLabels func(ctx context.Context, node string) (map[string]string, error)
	now        func() time.Time
	log        *slog.Logger
}

// New makes an allocator.
func New(o Options) *IPAM {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &IPAM{store: o.Store, nodeLabels: o.NodeLabels, now: o.Now, log: o.Log}
}

// Settings are the effective IPAM settings.
type Settings struct {
	StrictAffinity     bool
	MaxBlocksPerHost   int
	AutoAllocateBlocks bool
	Cooldown           time.Duration
}

// Settings reads IPAMConfiguration "default" (defaults if absent).
func (m *IPAM) Settings(ctx context.Context) (Settings, error) {
	s := Settings{MaxBlocksPerHost: DefaultMaxBlocksPerHost, AutoAllocateBlocks: true}
	o, err := m.getCached(ctx, KindConfig, v3.DefaultConfigName)
	if errors.Is(err, ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading IPAM configuration: %w", err)
	}
	spec := o.(*v3.IPAMConfiguration).Spec
	s.StrictAffinity = spec.StrictAffinity
	if spec.MaxBlocksPerHost > 0 {
		s.MaxBlocksPerHost = int(spec.MaxBlocksPerHost)
	}
	if spec.AutoAllocateBlocks != nil {
		s.AutoAllocateBlocks = *spec.AutoAllocateBlocks
	}
	if spec.IPCooldownSeconds != nil {
		s.Cooldown = time.Duration(*spec.IPCooldownSeconds) * time.Second
	}
	return s, nil
}

// Configure changes IPAMConfiguration "default" (creating it if needed).
func (m *IPAM) Configure(ctx context.Context, change func(*v3.IPAMConfigurationSpec)) error {
	for range maxRetries {
		o, err := m.store.Get(ctx, KindConfig, v3.DefaultConfigName)
		if errors.Is(err, ErrNotFound) {
			c := KindConfig.New().(*v3.IPAMConfiguration)
			c.Name = v3.DefaultConfigName
			t := true
			c.Spec.AutoAllocateBlocks = &t
			change(&c.Spec)
			_, err = m.store.Create(ctx, c)
			if errors.Is(err, ErrExists) {
				continue
			}
			return err
		}
		if err != nil {
			return err
		}
		c := o.(*v3.IPAMConfiguration).DeepCopy()
		change(&c.Spec)
		_, err = m.store.Update(ctx, c)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("IPAM configuration: %w after %d tries", ErrConflict, maxRetries)
}

// VirtualPrefix makes an assignment's Node a virtual owner rather than a
// node: "virtual:load-balancer" takes blocks with affinity
// "virtual:load-balancer" (as Calico's LoadBalancer IPAM does), which no
// node routes or advertises as its own and the garbage collector does not
// take for a deleted node.
const VirtualPrefix = "virtual:"

// ownerOf splits an assignment's Node into the affinity type and name.
func ownerOf(node string) (typ, name string) {
	if rest, ok := strings.CutPrefix(node, VirtualPrefix); ok {
		return "virtual", rest
	}
	return "host", node
}

// affinityOf is the block affinity of an assignment's Node.
func affinityOf(node string) string {
	typ, name := ownerOf(node)
	return typ + ":" + name
}

// AssignArgs ask for addresses.
type AssignArgs struct {
	Num4, Num6 int
	// HandleID groups the addresses (e.g. "k8s-pod-network.<containerID>");
	// releasing the handle releases them all.
	HandleID string
	// Attrs describe the owner (AttrNamespace, AttrPod, AttrNode, ...).
	Attrs map[string]string
	Node  string
	// IPv4Pools and IPv6Pools restrict the pools (names or CIDRs), in order
	// of preference; empty means every usable pool.
	IPv4Pools, IPv6Pools []string
	// Use is what the addresses are for (default Workload).
	Use v3.IPPoolAllowedUse
	// NamespaceLabels, if set, are checked against pools'
	// namespaceSelector.
	NamespaceLabels map[string]string
	// Inputs, if set, are what ReadInputs read for Node beforehand (so
	// that a caller can read them alongside its own reads); else they
	// are read first.
	Inputs *Inputs
}

// Inputs are what an assignment reads before its first write: the
// settings, the pools, the reservations and the node's affinities. All
// come from the cache where there is one, which is safe because every
// write that follows is a compare-and-swap on a fresh read, and
// affinities found wanting are read again consistently.
type Inputs struct {
	node                string
	settings            Settings
	pools               []pool
	res                 reservations
	affinities, pending []netip.Prefix
	err                 error
}

// ReadInputs reads an assignment's inputs for a node, all at once. An
// error is kept and returned by the AutoAssign they are given to.
func (m *IPAM) ReadInputs(ctx context.Context, node string) *Inputs {
	in := &Inputs{node: node}
	var serr, perr, rerr, aerr error
	var wg sync.WaitGroup
	wg.Go(func() { in.settings, serr = m.Settings(ctx) })
	wg.Go(func() { in.pools, perr = m.loadPools(ctx) })
	wg.Go(func() { in.res, rerr = m.loadReservations(ctx) })
	wg.Go(func() { in.affinities, in.pending, aerr = m.nodeAffinities(ctx, node, true) })
	wg.Wait()
	in.err = errors.Join(serr, perr, rerr, aerr)
	return in
}

// Assigned are the addresses handed out, each with its block's prefix
// length (the CNI plugin narrows them to single addresses).
type Assigned struct {
	IPv4, IPv6 []netip.Prefix
}

// AutoAssign hands out addresses: from blocks affine to the node first,
// then from newly claimed blocks while the node holds fewer than
// maxBlocksPerHost of the family in the usable pools (at that limit it
// fails with ErrBlockLimit, as Calico's), then, when no block is left to
// claim and unless strict affinity is on, borrowed from other blocks of
// the usable pools. It is all or nothing: on failure nothing stays
// allocated.
func (m *IPAM) AutoAssign(ctx context.Context, a AssignArgs) (Assigned, error) {
	var out Assigned
	if a.HandleID == "" {
		return out, errors.New("ipam: a handle is required")
	}
	if a.Node == "" {
		return out, errors.New("ipam: a node is required")
	}
	if a.Use == "" {
		a.Use = v3.IPPoolAllowedUseWorkload
	}
	in := a.Inputs
	if in == nil || in.node != a.Node {
		in = m.ReadInputs(ctx, a.Node)
	}
	if in.err != nil {
		return out, in.err
	}
	for _, fam := range []struct {
		v6   bool
		n    int
		req  []string
		dest *[]netip.Prefix
	}{{false, a.Num4, a.IPv4Pools, &out.IPv4}, {true, a.Num6, a.IPv6Pools, &out.IPv6}} {
		if fam.n <= 0 {
			continue
		}
		usable, err := m.usablePools(ctx, in.pools, fam.v6, fam.req, a.Node, a.Use, a.NamespaceLabels)
		if err == nil {
			*fam.dest, err = m.assignFamily(ctx, a, fam.n, usable, in)
		}
		if err != nil {
			m.rollback(ctx, a.HandleID, slices.Concat(out.IPv4, out.IPv6))
			return Assigned{}, err
		}
	}
	return out, nil
}

// rollback releases what a failed request got.
func (m *IPAM) rollback(ctx context.Context, handle string, got []netip.Prefix) {
	if len(got) == 0 {
		return
	}
	var opts []ReleaseOptions
	for _, p := range got {
		opts = append(opts, ReleaseOptions{Address: p.Addr(), Handle: handle})
	}
	if _, err := m.ReleaseIPs(context.WithoutCancel(ctx), opts...); err != nil {
		m.log.Warn("releasing addresses of a failed request", "handle", handle, "err", err)
	}
}

func (m *IPAM) assignFamily(ctx context.Context, a AssignArgs, n int, pools []pool, in *Inputs) ([]netip.Prefix, error) {
	s, res := in.settings, in.res
	var got []netip.Prefix
	affinity := affinityOf(a.Node)
	take := func(cidr netip.Prefix, wantAffinity string) error {
		addrs, err := m.allocFromBlock(ctx, cidr, n-len(got), a.HandleID, a.Attrs, res, s.Cooldown, wantAffinity)
		for _, ad := range addrs {
			got = append(got, netip.PrefixFrom(ad, cidr.Bits()))
		}
		return err
	}
	inPools := func(c netip.Prefix) bool {
		return slices.ContainsFunc(pools, func(p pool) bool { return p.cidr.Contains(c.Addr()) && p.blockBits == c.Bits() })
	}

	// 1. Blocks the node already has, finishing claims a crash
	// interrupted. owned counts those of this family in the usable pools,
	// against maxBlocksPerHost (as Calico's autoAssign counts the blocks
	// prepareAffinityBlocksForHost returns). The first pass reads the
	// affinities from the cache (fast; every block is read fresh before it
	// is written); only if that is not enough are they read again,
	// consistently, before new blocks are claimed.
	tried := map[netip.Prefix]bool{}
	owned := 0
	for _, cached := range []bool{true, false} {
		affs, pending := slices.Clone(in.affinities), in.pending
		if !cached {
			var err error
			if affs, pending, err = m.nodeAffinities(ctx, a.Node, false); err != nil {
				return got, err
			}
		}
		for _, c := range pending {
			if !inPools(c) {
				continue
			}
			switch err := m.ClaimAffinity(ctx, a.Node, c); {
			case err == nil:
				affs = append(affs, c)
			case !errors.Is(err, errTaken):
				return got, err
			}
		}
		counted := map[netip.Prefix]bool{}
		for _, c := range affs {
			if inPools(c) {
				counted[c] = true
			}
		}
		owned = len(counted)
		for _, c := range affs {
			if !inPools(c) || tried[c] {
				continue
			}
			tried[c] = true
			if err := take(c, affinity); errors.Is(err, ErrNotFound) {
				// A confirmed affinity whose block is missing: recreate it.
				if _, err := m.store.Create(ctx, emptyBlock(c, affinity, m.now())); err != nil && !errors.Is(err, ErrExists) {
					return got, fmt.Errorf("recreating block %s: %w", c, err)
				}
				if err := take(c, affinity); err != nil && !errors.Is(err, errNotOurs) {
					return got, err
				}
			} else if err != nil && !errors.Is(err, errNotOurs) {
				return got, err
			}
			if len(got) == n {
				return got, nil
			}
		}
	}

	// 2. New blocks.
	for s.AutoAllocateBlocks && owned < s.MaxBlocksPerHost && len(got) < n {
		c, err := m.claimFreeBlock(ctx, a.Node, pools, res)
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			return got, err
		}
		owned++
		if err := take(c, affinity); err != nil && !errors.Is(err, errNotOurs) {
			return got, err
		}
	}

	// At the limit, the request fails: a node does not borrow because it
	// may claim no more blocks, only when there are none left to claim
	// (Calico's findOrClaimBlock returns ErrBlockLimit, which autoAssign
	// returns, strict affinity or not).
	if len(got) < n && owned >= s.MaxBlocksPerHost {
		return got, fmt.Errorf("%w: node %s holds %d %s block(s) of pool(s) %s, the limit (maxBlocksPerHost=%d), and they are full: wanted %d address(es), found %d",
			ErrBlockLimit, a.Node, owned, familyOf(pools), poolNames(pools), s.MaxBlocksPerHost, n, len(got))
	}

	// 3. Borrowing.
	if len(got) < n && !s.StrictAffinity {
		blocks, err := m.store.List(ctx, KindBlock)
		if err != nil {
			return got, fmt.Errorf("listing blocks: %w", err)
		}
		var cidrs []netip.Prefix
		for _, o := range blocks {
			b := o.(*v3.IPAMBlock)
			c, err := netip.ParsePrefix(b.Spec.CIDR)
			if err != nil || b.Spec.Deleted || !inPools(c) || (b.Spec.Affinity != nil && *b.Spec.Affinity == affinity) {
				continue
			}
			cidrs = append(cidrs, c)
		}
		slices.SortFunc(cidrs, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
		for _, c := range cidrs {
			if err := take(c, ""); err != nil && !errors.Is(err, ErrNotFound) {
				return got, err
			}
			if len(got) == n {
				break
			}
		}
	}
	if len(got) < n {
		why := ""
		if s.StrictAffinity {
			why = "; strictAffinity forbids borrowing from other nodes' blocks"
		}
		return got, fmt.Errorf("%w: wanted %d address(es), found %d in pool(s) %s%s", ErrExhausted, n, len(got), poolNames(pools), why)
	}
	return got, nil
}

// poolNames names pools in an error.
func poolNames(pools []pool) string {
	var names []string
	for _, p := range pools {
		names = append(names, fmt.Sprintf("%s (%s)", p.name, p.cidr))
	}
	return strings.Join(names, ", ")
}

// familyOf is "IPv4" or "IPv6", the family of pools (all of one).
func familyOf(pools []pool) string {
	if len(pools) > 0 && pools[0].v6() {
		return "IPv6"
	}
	return "IPv4"
}

// errNotOurs: the block is not (or no longer) affine to the node.
var errNotOurs = errors.New("block not affine to this node")

// allocFromBlock allocates up to n addresses in one block,
// compare-and-swap. The handle is counted up before the block is written,
// so an allocation never exists without its handle.
func (m *IPAM) allocFromBlock(ctx context.Context, cidr netip.Prefix, n int, handle string, attrs map[string]string, res reservations, cooldown time.Duration, wantAffinity string) ([]netip.Addr, error) {
	for attempt := range maxRetries {
		// The first read may come from the cache: the write below is a
		// compare-and-swap, and a conflict is retried from a fresh read.
		get := m.store.Get
		if attempt == 0 {
			get = m.getCached
		}
		o, err := get(ctx, KindBlock, BlockName(cidr))
		if err != nil {
			return nil, err
		}
		obj := o.(*v3.IPAMBlock).DeepCopy()
		if obj.Spec.Deleted {
			return nil, ErrNotFound
		}
		b, err := newBlock(obj)
		if err != nil {
			return nil, err
		}
		if wantAffinity != "" && b.affinity() != wantAffinity {
			return nil, errNotOurs
		}
		b.gc(m.now(), cooldown)
		addrs := b.allocate(n, handle, attrs, res.contains)
		if len(addrs) == 0 {
			return nil, nil
		}
		if err := m.adjustHandle(ctx, handle, cidr, len(addrs)); err != nil {
			return nil, err
		}
		obj.Spec.SequenceNumber++
		_, err = m.store.Update(ctx, obj)
		if err == nil {
			return addrs, nil
		}
		if uerr := m.adjustHandle(context.WithoutCancel(ctx), handle, cidr, -len(addrs)); uerr != nil {
			m.log.Warn("could not count down a handle after a failed block write", "handle", handle, "block", cidr, "err", uerr)
		}
		if !errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("writing block %s: %w", cidr, err)
		}
	}
	return nil, fmt.Errorf("block %s: %w after %d tries", cidr, ErrConflict, maxRetries)
}

// adjustHandle adds delta to a handle's count for a block, creating the
// handle if needed and deleting it when nothing is left.
func (m *IPAM) adjustHandle(ctx context.Context, handle string, cidr netip.Prefix, delta int) error {
	key := cidr.String()
	if delta > 0 {
		// Most handles are new: try creating first.
		h := KindHandle.New().(*v3.IPAMHandle)
		h.Name = HandleName(handle)
		h.Spec = v3.IPAMHandleSpec{HandleID: handle, Block: map[string]int{key: delta}}
		_, err := m.store.Create(ctx, h)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrExists) {
			return fmt.Errorf("creating handle %s: %w", handle, err)
		}
	}
	for range maxRetries {
		o, err := m.store.Get(ctx, KindHandle, HandleName(handle))
		if errors.Is(err, ErrNotFound) {
			if delta <= 0 {
				return nil
			}
			h := KindHandle.New().(*v3.IPAMHandle)
			h.Name = HandleName(handle)
			h.Spec = v3.IPAMHandleSpec{HandleID: handle, Block: map[string]int{key: delta}}
			_, err = m.store.Create(ctx, h)
			if errors.Is(err, ErrExists) {
				continue
			}
			if err != nil {
				return fmt.Errorf("creating handle %s: %w", handle, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading handle %s: %w", handle, err)
		}
		h := o.(*v3.IPAMHandle).DeepCopy()
		if h.Spec.Block == nil {
			h.Spec.Block = map[string]int{}
		}
		h.Spec.Block[key] += delta
		if h.Spec.Block[key] <= 0 {
			delete(h.Spec.Block, key)
		}
		if conflict, err := m.writeHandle(ctx, h, handle); !conflict {
			return err
		}
	}
	return fmt.Errorf("handle %s: %w after %d tries", handle, ErrConflict, maxRetries)
}

// writeHandle stores a handle's changed counts: deleted when it counts
// nothing any more (already gone is fine), updated otherwise. conflict
// says it changed since it was read: read it again and retry.
func (m *IPAM) writeHandle(ctx context.Context, h *v3.IPAMHandle, handle string) (conflict bool, err error) {
	if len(h.Spec.Block) == 0 {
		err = m.store.Delete(ctx, KindHandle, h.Name, h.ResourceVersion)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
	} else {
		_, err = m.store.Update(ctx, h)
	}
	if errors.Is(err, ErrConflict) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("writing handle %s: %w", handle, err)
	}
	return false, nil
}

// nodeAffinities are the blocks confirmed affine to a node, and those
// whose claim is pending, in address order. The cached read lists only
// the node's, by Calico's labels (so affinities Calico's IPAM wrote are
// found as well as ours); the consistent one lists all, so that
// affinities written without the labels (by an older version, or another
// tool) are found, and labels them.
func (m *IPAM) nodeAffinities(ctx context.Context, node string, cached bool) (confirmed, pending []netip.Prefix, err error) {
	var objs []v3.Object
	ll, labelled := m.store.(LabelLister)
	switch {
	case cached && labelled:
		objs, err = ll.ListCachedSelected(ctx, KindAffinity, calicoSelector(node))
	case cached:
		objs, err = m.listCached(ctx, KindAffinity)
	default:
		objs, err = m.store.List(ctx, KindAffinity)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing block affinities: %w", err)
	}
	if !cached {
		m.labelAffinities(ctx, node, objs)
	}
	for _, o := range objs {
		a := o.(*v3.BlockAffinity)
		if !ownedBy(a, node) || a.Spec.Deleted {
			continue
		}
		c, err := netip.ParsePrefix(a.Spec.CIDR)
		if err != nil {
			continue
		}
		switch a.Spec.State {
		case v3.StateConfirmed:
			confirmed = append(confirmed, c.Masked())
		case v3.StatePending, "":
			pending = append(pending, c.Masked())
		}
	}
	order := func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) }
	slices.SortFunc(confirmed, order)
	slices.SortFunc(pending, order)
	return confirmed, pending, nil
}

// ownedBy says whether an affinity is node's (an assignment's Node: a
// node name, or VirtualPrefix and a virtual owner's name). An empty type
// is "host", as Calico reads it.
func ownedBy(a *v3.BlockAffinity, node string) bool {
	typ, name := ownerOf(node)
	return a.Spec.Node == name && (a.Spec.Type == typ || (a.Spec.Type == "" && typ == "host"))
}

// labelAffinities gives the node's affinities that lack them Calico's
// labels (best effort: a conflict means someone else wrote it, and the
// next consistent read tries again).
func (m *IPAM) labelAffinities(ctx context.Context, node string, objs []v3.Object) {
	for _, o := range objs {
		a := o.(*v3.BlockAffinity)
		if !ownedBy(a, node) || a.Spec.Deleted {
			continue
		}
		if a = a.DeepCopy(); !ensureAffinityLabels(a) {
			continue
		}
		if _, err := m.store.Update(ctx, a); err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
			m.log.Warn("labelling a block affinity", "affinity", a.Name, "err", err)
		}
	}
}

// claimFreeBlock finds a block of the pools that no one has and claims it.
func (m *IPAM) claimFreeBlock(ctx context.Context, node string, pools []pool, res reservations) (netip.Prefix, error) {
	objs, err := m.store.List(ctx, KindBlock)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("listing blocks: %w", err)
	}
	exists := map[string]bool{}
	for _, o := range objs {
		exists[o.(*v3.IPAMBlock).Spec.CIDR] = true
	}
	for _, p := range pools {
		var found netip.Prefix
		var ferr error
		p.candidates(node, func(c netip.Prefix) bool {
			if exists[c.String()] || res.covers(c) {
				return true
			}
			err := m.ClaimAffinity(ctx, node, c)
			switch {
			case err == nil:
				found = c
				return false
			case errors.Is(err, errTaken):
				exists[c.String()] = true
				return true
			default:
				ferr = err
				return false
			}
		})
		if ferr != nil {
			return netip.Prefix{}, ferr
		}
		if found.IsValid() {
			return found, nil
		}
	}
	return netip.Prefix{}, ErrExhausted
}

// errTaken: someone else holds the block.
var errTaken = errors.New("block is taken")

// ClaimAffinity makes a block affine to a node, in two phases: a pending
// affinity, the block (created with the affinity), then the affinity
// confirmed. If another node holds the block, the pending affinity is
// withdrawn and errTaken returned.
func (m *IPAM) ClaimAffinity(ctx context.Context, node string, cidr netip.Prefix) error {
	name := AffinityName(node, cidr)
	aff := KindAffinity.New().(*v3.BlockAffinity)
	aff.Name = name
	typ, owner := ownerOf(node)
	aff.Labels = affinityLabels(owner, typ, cidr.String())
	aff.Spec = v3.BlockAffinitySpec{State: v3.StatePending, Node: owner, Type: typ, CIDR: cidr.String()}
	var created v3.Object
	var err error
	for range maxRetries {
		created, err = m.store.Create(ctx, aff)
		if !errors.Is(err, ErrExists) {
			break
		}
		// Another claim of ours (a concurrent request on the same node)
		// got there first. It may be withdrawn between our create and
		// this read, when the block turned out to be taken: then try again.
		created, err = m.store.Get(ctx, KindAffinity, name)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err == nil && created.(*v3.BlockAffinity).Spec.State == v3.StateConfirmed {
			// Ours already; make sure the block is there.
			_, berr := m.store.Create(ctx, emptyBlock(cidr, affinityOf(node), m.now()))
			if berr != nil && !errors.Is(berr, ErrExists) {
				return berr
			}
			return nil
		}
		break
	}
	if err != nil {
		return fmt.Errorf("claiming block %s for %s: %w", cidr, node, err)
	}
	_, err = m.store.Create(ctx, emptyBlock(cidr, affinityOf(node), m.now()))
	if errors.Is(err, ErrExists) {
		o, gerr := m.store.Get(ctx, KindBlock, BlockName(cidr))
		if gerr != nil {
			return gerr
		}
		if b := o.(*v3.IPAMBlock); b.Spec.Affinity == nil || *b.Spec.Affinity != affinityOf(node) {
			if derr := m.store.Delete(ctx, KindAffinity, name, created.GetResourceVersion()); derr != nil && !errors.Is(derr, ErrNotFound) {
				m.log.Warn("withdrawing a pending affinity", "affinity", name, "err", derr)
			}
			return errTaken
		}
	} else if err != nil {
		return fmt.Errorf("creating block %s: %w", cidr, err)
	}
	for range maxRetries {
		a := created.(*v3.BlockAffinity).DeepCopy()
		a.Spec.State = v3.StateConfirmed
		ensureAffinityLabels(a) // a pending claim may have been written without them
		_, err = m.store.Update(ctx, a)
		if !errors.Is(err, ErrConflict) {
			return err
		}
		if created, err = m.store.Get(ctx, KindAffinity, name); err != nil {
			return err
		}
	}
	return fmt.Errorf("affinity %s: %w", name, ErrConflict)
}

// AssignIPArgs ask for one specific address.
type AssignIPArgs struct {
	IP       netip.Addr
	HandleID string
	Attrs    map[string]string
	Node     string
	// Use, if set, must be among the pool's allowedUses.
	Use v3.IPPoolAllowedUse
}

// AssignIP hands out a specific address (the cni.projectcalico.org/ipAddrs
// annotation). It must be in an enabled pool (as Calico's, only enabled
// pools are considered) and not reserved; its block is claimed for the
// node if no one has it yet.
func (m *IPAM) AssignIP(ctx context.Context, a AssignIPArgs) error {
	if a.HandleID == "" {
		return errors.New("ipam: a handle is required")
	}
	pools, err := m.loadPools(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(pools, func(p pool) bool { return !p.obj.Spec.Disabled && p.cidr.Contains(a.IP) })
	if i < 0 {
		if d := slices.IndexFunc(pools, func(p pool) bool { return p.cidr.Contains(a.IP) }); d >= 0 {
			return fmt.Errorf("%w: %s is in pool %s (%s), which is disabled, and in no enabled pool", ErrNoPools, a.IP, pools[d].name, pools[d].cidr)
		}
		return fmt.Errorf("%w: %s is not in any IP pool", ErrNoPools, a.IP)
	}
	if a.Use != "" && !slices.Contains(pools[i].obj.Spec.AllowedUses, a.Use) {
		return fmt.Errorf("%w: %s is in pool %s, whose allowedUses do not include %s", ErrNoPools, a.IP, pools[i].name, a.Use)
	}
	res, err := m.loadReservations(ctx)
	if err != nil {
		return err
	}
	if res.contains(a.IP) {
		return fmt.Errorf("%s is reserved by an IPReservation", a.IP)
	}
	cidr := netip.PrefixFrom(a.IP, pools[i].blockBits).Masked()
	if _, err := m.store.Get(ctx, KindBlock, BlockName(cidr)); errors.Is(err, ErrNotFound) {
		if err := m.ClaimAffinity(ctx, a.Node, cidr); err != nil && !errors.Is(err, errTaken) {
			return err
		}
	}
	for range maxRetries {
		o, err := m.store.Get(ctx, KindBlock, BlockName(cidr))
		if err != nil {
			return err
		}
		obj := o.(*v3.IPAMBlock).DeepCopy()
		b, err := newBlock(obj)
		if err != nil {
			return err
		}
		if err := b.assign(a.IP, a.HandleID, a.Attrs); err != nil {
			return err
		}
		if err := m.adjustHandle(ctx, a.HandleID, cidr, 1); err != nil {
			return err
		}
		obj.Spec.SequenceNumber++
		_, err = m.store.Update(ctx, obj)
		if err == nil {
			return nil
		}
		_ = m.adjustHandle(context.WithoutCancel(ctx), a.HandleID, cidr, -1)
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("block %s: %w", cidr, ErrConflict)
}

// ReleaseOptions name an address to release. Handle and SequenceNumber,
// if set, must match the allocation, so that a stale release cannot free
// an address someone else has been given since.
type ReleaseOptions struct {
	Address        netip.Addr
	Handle         string
	SequenceNumber *uint64
}

// ReleaseIPs releases addresses and returns those that were not allocated
// (or did not match). It reads every block once, and writes each block
// holding some of the addresses once (see ReleaseFrom).
func (m *IPAM) ReleaseIPs(ctx context.Context, opts ...ReleaseOptions) ([]netip.Addr, error) {
	blocks, err := m.ReadBlocks(ctx)
	if err != nil {
		return nil, err
	}
	rep, err := m.ReleaseFrom(ctx, blocks, opts...)
	return rep.NotAllocated, err
}

// updateBlock reads a block, lets change modify it and writes it back
// with its sequence number bumped, compare-and-swap, retrying from a fresh
// read on conflict. change returns false to write nothing. A missing block
// is ErrNotFound. If first is not nil, the first attempt starts from it (a
// block read a moment ago) instead of reading the block.
func (m *IPAM) updateBlock(ctx context.Context, cidr netip.Prefix, first *v3.IPAMBlock, change func(*block) bool) error {
	for range maxRetries {
		var obj *v3.IPAMBlock
		if first != nil {
			obj, first = first.DeepCopy(), nil
		} else {
			o, err := m.store.Get(ctx, KindBlock, BlockName(cidr))
			if err != nil {
				return err
			}
			obj = o.(*v3.IPAMBlock).DeepCopy()
		}
		b, err := newBlock(obj)
		if err != nil {
			return err
		}
		if !change(b) {
			return nil
		}
		obj.Spec.SequenceNumber++
		_, err = m.store.Update(ctx, obj)
		if !errors.Is(err, ErrConflict) {
			if err != nil {
				return fmt.Errorf("writing block %s: %w", cidr, err)
			}
			return nil
		}
	}
	return fmt.Errorf("block %s: %w after %d tries", cidr, ErrConflict, maxRetries)
}

// ReleaseByHandle releases every address of a handle and deletes it.
// ErrNotFound if there is no such handle (nothing to release).
func (m *IPAM) ReleaseByHandle(ctx context.Context, handle string) error {
	o, err := m.store.Get(ctx, KindHandle, HandleName(handle))
	if err != nil {
		return err
	}
	settings, err := m.Settings(ctx)
	if err != nil {
		return err
	}
	h := o.(*v3.IPAMHandle)
	for key := range h.Spec.Block {
		cidr, err := netip.ParsePrefix(key)
		if err != nil {
			continue
		}
		if err := m.releaseHandleInBlock(ctx, cidr, handle, settings.Cooldown); err != nil {
			return err
		}
	}
	err = m.store.Delete(ctx, KindHandle, h.Name, "")
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func (m *IPAM) releaseHandleInBlock(ctx context.Context, cidr netip.Prefix, handle string, cooldown time.Duration) error {
	err := m.updateBlock(ctx, cidr, nil, func(b *block) bool { return b.releaseHandle(handle, m.now(), cooldown) > 0 })
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// IPsByHandle lists a handle's addresses.
func (m *IPAM) IPsByHandle(ctx context.Context, handle string) ([]netip.Addr, error) {
	o, err := m.store.Get(ctx, KindHandle, HandleName(handle))
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for key := range o.(*v3.IPAMHandle).Spec.Block {
		cidr, err := netip.ParsePrefix(key)
		if err != nil {
			continue
		}
		bo, err := m.store.Get(ctx, KindBlock, BlockName(cidr))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		b, err := newBlock(bo.(*v3.IPAMBlock))
		if err != nil {
			return nil, err
		}
		for ord := range b.size() {
			if b.inUse(ord) && b.handleOf(ord) == handle {
				out = append(out, b.addr(ord))
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// Allocation describes one allocated address.
type Allocation struct {
	Addr           netip.Addr
	Block          netip.Prefix
	Handle         string
	Attrs          map[string]string
	SequenceNumber uint64
	// Affinity is the block's affinity ("host:<node>"), "" if none.
	Affinity string
	// Released: cooling down after a release.
	Released bool
}

// Allocations lists every address held in every block.
func (m *IPAM) Allocations(ctx context.Context) ([]Allocation, error) {
	blocks, err := m.ReadBlocks(ctx)
	if err != nil {
		return nil, err
	}
	return blocks.Allocations(), nil
}

func (b *block) allocations() []Allocation {
	var out []Allocation
	for ord := range b.size() {
		if !b.inUse(ord) {
			continue
		}
		al := Allocation{Addr: b.addr(ord), Block: b.cidr, Affinity: b.affinity(), SequenceNumber: b.sequenceOf(ord), Released: b.released(ord)}
		if a := b.attr(ord); a != nil {
			if a.HandleID != nil {
				al.Handle = *a.HandleID
			}
			al.Attrs = a.ActiveOwnerAttrs
		}
		out = append(out, al)
	}
	return out
}

// ReleaseNodeAffinities gives up a node's blocks (the node is gone):
// empty blocks are deleted, others lose their affinity (their addresses
// stay allocated until released), and the affinities are deleted.
func (m *IPAM) ReleaseNodeAffinities(ctx context.Context, node string) error {
	objs, err := m.store.List(ctx, KindAffinity)
	if err != nil {
		return err
	}
	typ, name := ownerOf(node)
	for _, o := range objs {
		a := o.(*v3.BlockAffinity)
		if a.Spec.Node != name || (a.Spec.Type != "" && a.Spec.Type != typ) {
			continue
		}
		cidr, err := netip.ParsePrefix(a.Spec.CIDR)
		if err != nil {
			continue
		}
		if err := m.releaseBlockAffinity(ctx, cidr, affinityOf(node)); err != nil {
			return err
		}
		if err := m.store.Delete(ctx, KindAffinity, a.Name, ""); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

func (m *IPAM) releaseBlockAffinity(ctx context.Context, cidr netip.Prefix, affinity string) error {
	for range maxRetries {
		o, err := m.store.Get(ctx, KindBlock, BlockName(cidr))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		obj := o.(*v3.IPAMBlock).DeepCopy()
		if obj.Spec.Affinity == nil || *obj.Spec.Affinity != affinity {
			return nil
		}
		b, err := newBlock(obj)
		if err != nil {
			return err
		}
		if b.empty() {
			err = m.store.Delete(ctx, KindBlock, obj.Name, obj.ResourceVersion)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
		} else {
			obj.Spec.Affinity = nil
			obj.Spec.AffinityClaimTime = nil
			obj.Spec.SequenceNumber++
			_, err = m.store.Update(ctx, obj)
		}
		if errors.Is(err, ErrConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("block %s: %w", cidr, ErrConflict)
}
