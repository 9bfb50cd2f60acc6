package labelindex

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
	n      uint32 // slots handed out, 0 included
	free   []uint32
}

// at returns the record with number i.
func (t *table[T]) at(i uint32) *T {
	return &t.chunks[i>>chunkBits][i&(chunkSize-1)]
}

// add stores v and returns its number.
func (t *table[T]) add(v T) uint32 {
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		*t.at(i) = v
		return i
	}
	if t.n == 0 {
		t.chunks = [][]T{make([]T, 1, 8)} // slot 0, never used
		t.n = 1
	}
	i := t.n
	c := i >> chunkBits
	if int(c) == len(t.chunks) {
		t.chunks = append(t.chunks, make([]T, 0, chunkSize))
	}
	t.chunks[c] = append(t.chunks[c], v)
	t.n++
	return i
}

// remove frees number i, dropping what its record referred to.
func (t *table[T]) remove(i uint32) {
	var zero T
	*t.at(i) = zero
	t.free = append(t.free, i)
}

// slots returns one more than the highest number handed out: records
// 1..slots()-1 exist, though some may be free.
func (t *table[T]) slots() uint32 { return max(t.n, 1) }

// live returns the number of records in use.
func (t *table[T]) live() int { return int(t.slots()) - 1 - len(t.free) }
