package calc

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"unique"

	"github.com/calicong/calico/internal/model"
)

// itemID numbers the endpoints and network sets densely, so the indexes can
// use small keys.
type itemID uint32

type itemKind uint8

const (
	kindNone itemKind = iota // a free record
	kindWorkload
	kindHost
	kindNetworkSet
	kindGlobalNetworkSet
)

var kindNames = [...]string{"", model.KindWorkloadEndpoint, "HostEndpoint", "NetworkSet", "GlobalNetworkSet"}

func itemKindOf(kind string) itemKind {
	for i, n := range kindNames {
		if i > 0 && n == kind {
			return itemKind(i)
		}
	}
	return kindNone
}

// item is an endpoint or network set, as far as IP-set membership goes,
// with its key. There is one per endpoint in the cluster, so it is kept
// small: nearly all have one address and no named ports, and the
// namespace name is shared.
type item struct {
	namespace string
	name      string
	net       netip.Prefix    // the first address; invalid if none
	more      *[]netip.Prefix // any further addresses
	ports     *[]namedPort
	local     *localEndpoint
	next      itemID // the next item in the same hash bucket, plus one
	kind      itemKind
}

func (it *item) key() model.Key {
	return model.Key{Kind: kindNames[it.kind], Namespace: it.namespace, Name: it.name}
}

// nets returns the item's addresses.
func (it *item) nets() []netip.Prefix {
	if !it.net.IsValid() {
		return nil
	}
	if it.more == nil {
		return []netip.Prefix{it.net}
	}
	return append([]netip.Prefix{it.net}, *it.more...)
}

func (it *item) setNets(nets []netip.Prefix) {
	it.net, it.more = netip.Prefix{}, nil
	if len(nets) > 0 {
		it.net = nets[0]
	}
	if len(nets) > 1 {
		more := slices.Clone(nets[1:])
		it.more = &more
	}
}

func (it *item) namedPorts() []namedPort {
	if it.ports == nil {
		return nil
	}
	return *it.ports
}

func (it *item) setPorts(ports []namedPort) {
	it.ports = nil
	if len(ports) > 0 {
		p := slices.Clone(ports)
		it.ports = &p
	}
}

// itemTable holds the items, found by key through hash chains threaded
// through the records: 4 bytes per bucket rather than a Go map entry per
// key (which, at 250,000 endpoints, was a quarter of the graph's memory).
type itemTable struct {
	items   chunked[item]
	buckets []itemID // first item of each chain, plus one; 0 = empty
	n       int
	free    []itemID
	seed    maphash.Seed
}

func (t *itemTable) hash(kind itemKind, ns, name string) uint64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteByte(byte(kind))
	h.WriteString(ns)
	h.WriteByte(0)
	h.WriteString(name)
	return h.Sum64()
}

func (t *itemTable) at(id itemID) *item { return t.items.at(uint32(id)) }

// lookup finds an item by key.
func (t *itemTable) lookup(key model.Key) (itemID, bool) {
	kind := itemKindOf(key.Kind)
	if kind == kindNone || len(t.buckets) == 0 {
		return 0, false
	}
	b := t.hash(kind, key.Namespace, key.Name) & uint64(len(t.buckets)-1)
	for p := t.buckets[b]; p != 0; {
		it := t.at(p - 1)
		if it.kind == kind && it.name == key.Name && it.namespace == key.Namespace {
			return p - 1, true
		}
		p = it.next
	}
	return 0, false
}

// insert adds a new item (the key must not be present).
func (t *itemTable) insert(key model.Key) itemID {
	if t.n >= len(t.buckets) {
		t.grow()
	}
	var id itemID
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
	} else {
		id = itemID(t.items.grow())
	}
	kind := itemKindOf(key.Kind)
	// Thousands of endpoints share a namespace: keep one copy of its name.
	*t.at(id) = item{kind: kind, namespace: unique.Make(key.Namespace).Value(), name: key.Name}
	t.link(id)
	t.n++
	return id
}

func (t *itemTable) link(id itemID) {
	it := t.at(id)
	b := t.hash(it.kind, it.namespace, it.name) & uint64(len(t.buckets)-1)
	it.next, t.buckets[b] = t.buckets[b], id+1
}

// remove deletes an item.
func (t *itemTable) remove(id itemID) {
	it := t.at(id)
	b := t.hash(it.kind, it.namespace, it.name) & uint64(len(t.buckets)-1)
	for p := &t.buckets[b]; *p != 0; p = &t.at(*p - 1).next {
		if *p == id+1 {
			*p = it.next
			break
		}
	}
	*it = item{}
	t.free = append(t.free, id)
	t.n--
}

func (t *itemTable) grow() {
	size := max(1024, 2*len(t.buckets))
	t.buckets = make([]itemID, size)
	for i := uint32(0); i < t.items.n; i++ {
		if t.items.at(i).kind != kindNone {
			t.link(itemID(i))
		}
	}
}

// all iterates over every item.
func (t *itemTable) all(yield func(itemID, *item) bool) {
	for i := uint32(0); i < t.items.n; i++ {
		if it := t.items.at(i); it.kind != kindNone && !yield(itemID(i), it) {
			return
		}
	}
}

// chunked is a growable array of records in fixed-size chunks: no copying
// and no doubling slack as it grows to hundreds of thousands of records.
type chunked[T any] struct {
	chunks []*[chunkSize]T
	n      uint32
}

const chunkSize = 1024

func (c *chunked[T]) grow() uint32 {
	if c.n%chunkSize == 0 {
		c.chunks = append(c.chunks, new([chunkSize]T))
	}
	c.n++
	return c.n - 1
}

func (c *chunked[T]) at(i uint32) *T { return &c.chunks[i/chunkSize][i%chunkSize] }

type namedPort struct {
	name     string
	protocol uint8
	port     uint16
}
