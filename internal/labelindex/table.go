package labelindex

import "math/bits"

// chunkBits sets the size of a table chunk: 512 records, 8 to 20 KiB for
// the record types here.
const (
	chunkBits = 9
	chunkSize = 1 << chunkBits
)

// table holds records addressed by dense uint32 numbers, with a free list so
// that numbers are reused. Number 0 is never handed out, so that the zero
// value of a link field can mean "none".
//
// Records live in fixed-size chunks rather than one slice: growing a
// 250,000-record table by appending would copy it again and again (and, for
// a while, keep two copies), while chunks are allocated once and never move.
// Only the first chunk grows by appending, so that a small index stays small;
// a pointer from at is therefore only good until the next add.
type table[T any] struct {
	chunks [][]T
	n      uint32   // slots handed out, 0 included
	free   []uint32 // numbers to hand out again
	used   []uint64 // bit i is set while record i is in use
}

// at returns the record with number i.
func (t *table[T]) at(i uint32) *T {
	return &t.chunks[i>>chunkBits][i&(chunkSize-1)]
}

// add stores v and returns its number.
func (t *table[T]) add(v T) uint32 {
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
		*t.at(i) = v
	} else {
		if t.n == 0 {
			t.chunks = [][]T{make([]T, 1, 8)} // slot 0, never used
			t.n = 1
		}
		i = t.n
		c := i >> chunkBits
		if int(c) == len(t.chunks) {
			t.chunks = append(t.chunks, make([]T, 0, chunkSize))
		}
		t.chunks[c] = append(t.chunks[c], v)
		t.n++
		if int(i>>6) == len(t.used) {
			t.used = append(t.used, 0)
		}
	}
	t.used[i>>6] |= 1 << (i & 63)
	return i
}

// remove frees number i, dropping what its record referred to.
func (t *table[T]) remove(i uint32) {
	var zero T
	*t.at(i) = zero
	t.used[i>>6] &^= 1 << (i & 63)
	t.free = append(t.free, i)
}

// inUse reports whether record i has been added and not removed.
func (t *table[T]) inUse(i uint32) bool {
	return int(i>>6) < len(t.used) && t.used[i>>6]&(1<<(i&63)) != 0
}

// slots returns one more than the highest number handed out: records
// 1..slots()-1 exist, though some may be free.
func (t *table[T]) slots() uint32 { return max(t.n, 1) }

// live returns the number of records in use.
func (t *table[T]) live() int { return int(t.slots()) - 1 - len(t.free) }

// chains is the bucket array of a hash table whose entries are the records
// of a table: each bucket holds the number of the first record in it, and
// the records link the rest through a field of their own. An entry costs
// that 4-byte field plus 4 to 8 bytes of buckets (there are between one and
// two buckets per entry while growing, up to eight while shrinking), where
// a Go map from a 64-bit hash to a record number costs about 27. Looking up
// reads the records in the bucket, which are usually the one sought.
//
// The owner links and unlinks entries, and calls grown after linking and
// shrunk after unlinking, when exactly the table's records in use are
// linked, so that a resize can rebuild the chains from the table.
type chains struct {
	heads []uint32
	n     int // entries linked
}

// bucket returns the head of the bucket for hash h.
func (c *chains) bucket(h uint64) *uint32 {
	if len(c.heads) == 0 {
		c.heads = make([]uint32, 8)
	}
	return &c.heads[h&uint64(len(c.heads)-1)]
}

// first returns the first record in the bucket for hash h, 0 if none.
func (c *chains) first(h uint64) uint32 {
	if len(c.heads) == 0 {
		return 0
	}
	return c.heads[h&uint64(len(c.heads)-1)]
}

// link adds record id, with hash h, whose link field is next.
func (c *chains) link(id uint32, h uint64, next *uint32) {
	b := c.bucket(h)
	*next, *b = *b, id
	c.n++
}

// unlink removes record id with hash h; nextOf returns the link field of a
// record.
func (c *chains) unlink(id uint32, h uint64, nextOf func(uint32) *uint32) {
	p := c.bucket(h)
	for *p != id {
		p = nextOf(*p)
	}
	*p = *nextOf(id)
	*nextOf(id) = 0
	c.n--
}

// resizeTo returns the number of buckets the chains should have now: 0 if
// they are the right size.
func (c *chains) resizeTo() int {
	switch {
	case c.n > len(c.heads):
		return 2 * len(c.heads)
	case c.n == 0 && c.heads != nil:
		return -1 // no entries: free the buckets
	case len(c.heads) > 8 && c.n < len(c.heads)/8:
		return max(8, 1<<bits.Len(uint(c.n)))
	}
	return 0
}

// rehash resizes c, if it needs it, by relinking every record in use of t
// through its link field, next, by its hash.
func rehash[T any](c *chains, t *table[T], hash func(*T) uint64, next func(*T) *uint32) {
	size := c.resizeTo()
	switch {
	case size == 0:
		return
	case size < 0:
		c.heads = nil
		return
	}
	c.heads = make([]uint32, size)
	mask := uint64(size - 1)
	for i := uint32(1); i < t.slots(); i++ {
		if !t.inUse(i) {
			continue
		}
		r := t.at(i)
		b := &c.heads[hash(r)&mask]
		*next(r), *b = *b, i
	}
}

// Pairs of label sets live in an arena rather than in a slice each: a slice
// costs a 24-byte header in the set's record, and its allocation is rounded
// up to a size class (seven 8-byte pairs, 56 bytes, would take 64).
const (
	arenaBits  = 13 // 8,192 pairs (64 KiB) per chunk
	arenaChunk = 1 << arenaBits
	maxFreeRun = 64 // freed runs up to this long are kept for reuse
)

// arena holds the pairs of all label sets in chunks. A set's pairs are a run
// in one chunk, addressed by offset (chunk<<arenaBits | index) and length.
// Freed runs of up to maxFreeRun pairs go on a free list per length and are
// handed out again to sets of the same length; other space left idle (longer
// runs, the end of a chunk too short for the next set) is given back when
// the store compacts the arena, which it does once idle space outgrows the
// pairs in use. A run longer than a chunk gets a chunk of its own, freed
// with it.
type arena struct {
	chunks [][]pair
	free   [][]uint32 // free[n]: offsets of idle runs of n pairs
	live   int        // pairs in use
	idle   int        // pairs allocated but not in use
}

// get returns the run of n pairs at off. The slice is only good until the
// next alloc or compaction.
func (a *arena) get(off, n uint32) []pair {
	c := a.chunks[off>>arenaBits]
	i := off & (arenaChunk - 1)
	return c[i : i+n : i+n]
}

// alloc returns the offset of a run of n zero pairs (n > 0).
func (a *arena) alloc(n uint32) uint32 { return a.place(n, nil) }

// place returns the offset of a run of n pairs (n > 0), a copy of src if it
// is not nil (then of length n), else zero.
func (a *arena) place(n uint32, src []pair) uint32 {
	a.live += int(n)
	if int(n) < len(a.free) {
		if f := a.free[n]; len(f) > 0 {
			off := f[len(f)-1]
			a.free[n] = f[:len(f)-1]
			a.idle -= int(n)
			if dst := a.get(off, n); src != nil {
				copy(dst, src)
			} else {
				clear(dst)
			}
			return off
		}
	}
	if n > arenaChunk {
		a.chunks = append(a.chunks, make([]pair, n))
		copy(a.chunks[len(a.chunks)-1], src)
		return uint32(len(a.chunks)-1) << arenaBits
	}
	last := len(a.chunks) - 1
	// Open a chunk if there is none, if the last one is too full, or if it
	// was a run's own chunk (full, or nil once freed).
	if last < 0 || a.chunks[last] == nil || len(a.chunks[last])+int(n) > arenaChunk {
		if last >= 0 && len(a.chunks[last]) < arenaChunk && a.chunks[last] != nil {
			a.idle += arenaChunk - len(a.chunks[last])
		}
		size := arenaChunk
		if last < 0 {
			size = 64 // the first chunk grows by appending, as in table
		}
		a.chunks = append(a.chunks, make([]pair, 0, size))
		last++
	}
	c := a.chunks[last]
	off := uint32(last)<<arenaBits | uint32(len(c))
	if src != nil {
		a.chunks[last] = append(c, src...)
	} else {
		a.chunks[last] = append(c, make([]pair, n)...)
	}
	return off
}

// release makes the run of n pairs at off idle.
func (a *arena) release(off, n uint32) {
	a.live -= int(n)
	if n > arenaChunk {
		a.chunks[off>>arenaBits] = nil
		return
	}
	a.idle += int(n)
	if n <= maxFreeRun {
		if int(n) >= len(a.free) {
			a.free = append(a.free, make([][]uint32, int(n)+1-len(a.free))...)
		}
		a.free[n] = append(a.free[n], off)
	}
}

// wasteful reports whether the arena should be compacted: it is empty, or
// most of it is idle and the idle part is worth copying the rest for.
func (a *arena) wasteful() bool {
	return (a.live == 0 && a.chunks != nil) || (a.idle > a.live && a.idle >= 2*arenaChunk)
}
