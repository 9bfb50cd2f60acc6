package ipam

import (
	"fmt"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

// Attribute keys of an allocation's owner.
const (
	AttrNamespace = "namespace"
	AttrPod       = "pod"
	AttrNode      = "node"
	AttrTimestamp = "timestamp"
	AttrType      = "type"
)

// block is an IPAMBlock being read or changed.
type block struct {
	obj  *v3.IPAMBlock
	cidr netip.Prefix
}

func newBlock(obj *v3.IPAMBlock) (*block, error) {
	p, err := netip.ParsePrefix(obj.Spec.CIDR)
	if err != nil {
		return nil, fmt.Errorf("block %s: cidr %q: %w", obj.Name, obj.Spec.CIDR, err)
	}
	return &block{obj: obj, cidr: p.Masked()}, nil
}

// emptyBlock is a new block with every ordinal free.
func emptyBlock(cidr netip.Prefix, affinity string, now time.Time) *v3.IPAMBlock {
	n := blockSize(cidr)
	b := &v3.IPAMBlock{
		TypeMeta:   metav1.TypeMeta{APIVersion: v3.SchemeGroupVersion.String(), Kind: "IPAMBlock"},
		ObjectMeta: metav1.ObjectMeta{Name: BlockName(cidr)},
		Spec: v3.IPAMBlockSpec{
			CIDR:                        cidr.String(),
			Allocations:                 make([]*int, n),
			Unallocated:                 make([]int, n),
			Attributes:                  []v3.AllocationAttribute{},
			SequenceNumberForAllocation: map[string]uint64{},
		},
	}
	for i := range n {
		b.Spec.Unallocated[i] = i
	}
	if affinity != "" {
		b.Spec.Affinity = &affinity
		t := metav1.NewTime(now)
		b.Spec.AffinityClaimTime = &t
	}
	return b
}

// blockSize is the number of addresses in a block (blocks are /116 or
// smaller for IPv6, so this fits an int).
func blockSize(cidr netip.Prefix) int {
	return 1 << (cidr.Addr().BitLen() - cidr.Bits())
}

func (b *block) size() int { return len(b.obj.Spec.Allocations) }

// addr is the address of an ordinal.
func (b *block) addr(ord int) netip.Addr {
	base := new(big.Int).SetBytes(b.cidr.Addr().AsSlice())
	base.Add(base, big.NewInt(int64(ord)))
	buf := make([]byte, b.cidr.Addr().BitLen()/8)
	base.FillBytes(buf)
	a, _ := netip.AddrFromSlice(buf)
	return a
}

// ordinal is an address's position in the block, or -1.
func (b *block) ordinal(a netip.Addr) int {
	if !b.cidr.Contains(a) {
		return -1
	}
	base := new(big.Int).SetBytes(b.cidr.Addr().AsSlice())
	off := new(big.Int).SetBytes(a.AsSlice())
	return int(off.Sub(off, base).Int64())
}

// affinity is the block's "host:<node>" or "virtual:<name>", or "".
func (b *block) affinity() string {
	if b.obj.Spec.Affinity == nil {
		return ""
	}
	return *b.obj.Spec.Affinity
}

// inUse tells whether an ordinal is allocated.
func (b *block) inUse(ord int) bool { return b.obj.Spec.Allocations[ord] != nil }

// attr is the attribute of an allocated ordinal.
func (b *block) attr(ord int) *v3.AllocationAttribute {
	i := b.obj.Spec.Allocations[ord]
	if i == nil || *i < 0 || *i >= len(b.obj.Spec.Attributes) {
		return nil
	}
	return &b.obj.Spec.Attributes[*i]
}

// handleOf is the handle of an allocated ordinal ("" if none or released).
func (b *block) handleOf(ord int) string {
	a := b.attr(ord)
	if a == nil || a.HandleID == nil || a.ReleasedAt != nil {
		return ""
	}
	return *a.HandleID
}

// released tells whether an ordinal is held only by its cooldown.
func (b *block) released(ord int) bool {
	a := b.attr(ord)
	return a != nil && a.ReleasedAt != nil
}

// allocate hands out up to n free ordinals (skipping reserved addresses)
// to a handle, and returns their addresses.
func (b *block) allocate(n int, handle string, attrs map[string]string, reserved func(netip.Addr) bool) []netip.Addr {
	s := &b.obj.Spec
	var out []netip.Addr
	var keep []int
	attrIdx := -1
	for _, ord := range s.Unallocated {
		if len(out) == n || ord < 0 || ord >= len(s.Allocations) || s.Allocations[ord] != nil {
			keep = append(keep, ord)
			continue
		}
		a := b.addr(ord)
		if reserved != nil && reserved(a) {
			keep = append(keep, ord)
			continue
		}
		if attrIdx < 0 {
			attrIdx = b.addAttr(handle, attrs)
		}
		idx := attrIdx
		s.Allocations[ord] = &idx
		b.stampSequence(ord)
		out = append(out, a)
	}
	if keep == nil {
		keep = []int{} // the schema requires the field, even empty
	}
	s.Unallocated = keep
	return out
}

// assign hands out one specific address.
func (b *block) assign(a netip.Addr, handle string, attrs map[string]string) error {
	ord := b.ordinal(a)
	if ord < 0 {
		return fmt.Errorf("%s is not in block %s", a, b.cidr)
	}
	s := &b.obj.Spec
	if s.Allocations[ord] != nil {
		if b.released(ord) {
			return fmt.Errorf("%s was released recently and is cooling down (ipCooldownSeconds)", a)
		}
		return fmt.Errorf("%w: %s is already assigned (handle %q)", ErrInUse, a, b.handleOf(ord))
	}
	idx := b.addAttr(handle, attrs)
	s.Allocations[ord] = &idx
	for i, o := range s.Unallocated {
		if o == ord {
			s.Unallocated = append(append([]int{}, s.Unallocated[:i]...), s.Unallocated[i+1:]...)
			break
		}
	}
	b.stampSequence(ord)
	return nil
}

// stampSequence records the sequence number the block will have once the
// write that allocates ord lands.
func (b *block) stampSequence(ord int) {
	s := &b.obj.Spec
	if s.SequenceNumberForAllocation == nil {
		s.SequenceNumberForAllocation = map[string]uint64{}
	}
	s.SequenceNumberForAllocation[strconv.Itoa(ord)] = s.SequenceNumber + 1
}

// sequenceOf is the block sequence number at which ord was allocated.
func (b *block) sequenceOf(ord int) uint64 {
	return b.obj.Spec.SequenceNumberForAllocation[strconv.Itoa(ord)]
}

func (b *block) addAttr(handle string, attrs map[string]string) int {
	s := &b.obj.Spec
	h := handle
	a := v3.AllocationAttribute{HandleID: &h, ActiveOwnerAttrs: attrs}
	s.Attributes = append(s.Attributes, a)
	return len(s.Attributes) - 1
}

// release frees an ordinal. With a cooldown it stays held, marked
// released, until gc returns it to the free queue.
func (b *block) release(ord int, now time.Time, cooldown time.Duration) {
	s := &b.obj.Spec
	if cooldown > 0 {
		a := b.attr(ord)
		rel := v3.AllocationAttribute{HandleID: a.HandleID, ActiveOwnerAttrs: a.ActiveOwnerAttrs}
		t := metav1.NewTime(now)
		rel.ReleasedAt = &t
		s.Attributes = append(s.Attributes, rel)
		idx := len(s.Attributes) - 1
		s.Allocations[ord] = &idx
	} else {
		s.Allocations[ord] = nil
		s.Unallocated = append(s.Unallocated, ord)
	}
	delete(s.SequenceNumberForAllocation, strconv.Itoa(ord))
	b.compact()
}

// releaseHandle frees every ordinal of a handle and returns how many.
func (b *block) releaseHandle(handle string, now time.Time, cooldown time.Duration) int {
	n := 0
	for ord := range b.obj.Spec.Allocations {
		if b.inUse(ord) && !b.released(ord) && b.handleOf(ord) == handle {
			b.release(ord, now, cooldown)
			n++
		}
	}
	return n
}

// gc returns released ordinals whose cooldown is over to the free queue.
func (b *block) gc(now time.Time, cooldown time.Duration) bool {
	changed := false
	s := &b.obj.Spec
	for ord := range s.Allocations {
		a := b.attr(ord)
		if a != nil && a.ReleasedAt != nil && !now.Before(a.ReleasedAt.Add(cooldown)) {
			s.Allocations[ord] = nil
			s.Unallocated = append(s.Unallocated, ord)
			changed = true
		}
	}
	if changed {
		b.compact()
	}
	return changed
}

// compact drops attributes nothing refers to and renumbers the rest.
func (b *block) compact() {
	s := &b.obj.Spec
	used := make([]bool, len(s.Attributes))
	for _, i := range s.Allocations {
		if i != nil && *i >= 0 && *i < len(used) {
			used[*i] = true
		}
	}
	remap := make([]int, len(s.Attributes))
	var attrs []v3.AllocationAttribute
	for i, a := range s.Attributes {
		if used[i] {
			remap[i] = len(attrs)
			attrs = append(attrs, a)
		}
	}
	if attrs == nil {
		attrs = []v3.AllocationAttribute{}
	}
	s.Attributes = attrs
	for ord, i := range s.Allocations {
		if i != nil && *i >= 0 && *i < len(remap) {
			v := remap[*i]
			s.Allocations[ord] = &v
		}
	}
}

// inUseCount is the number of ordinals held (in use or cooling down).
func (b *block) inUseCount() int {
	n := 0
	for _, a := range b.obj.Spec.Allocations {
		if a != nil {
			n++
		}
	}
	return n
}

// empty tells whether nothing is allocated in the block.
func (b *block) empty() bool { return b.inUseCount() == 0 }

// Borrowed lists a block's addresses held by nodes other than the one the
// block is affine to, by node (borrowing, when strictAffinity is off).
// The holder must advertise or route them itself: the block's route leads
// to its owner.
func Borrowed(obj *v3.IPAMBlock) map[string][]netip.Addr {
	b, err := newBlock(obj)
	if err != nil {
		return nil
	}
	owner := strings.TrimPrefix(b.affinity(), "host:")
	var out map[string][]netip.Addr
	for ord := range b.size() {
		if !b.inUse(ord) {
			continue
		}
		a := b.attr(ord)
		if a == nil {
			continue
		}
		node := a.ActiveOwnerAttrs[AttrNode]
		if node == "" || node == owner {
			continue
		}
		if out == nil {
			out = map[string][]netip.Addr{}
		}
		out[node] = append(out[node], b.addr(ord))
	}
	return out
}
