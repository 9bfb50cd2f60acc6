package labelindex

import (
	"slices"
	"strings"
)

// str is an interned string: a label key or value.
type str struct {
	s    string
	refs uint32 // label-set pairs and selector index entries using it
}

// pair is one label of a label set, with its place in the two terms it
// belongs to.
type pair struct {
	k, v        uint32 // string numbers of the key and the value
	kt, kvt     uint32 // term numbers of (k) and (k, v)
	kpos, kvpos uint32 // index of the set in terms[kt].sets and terms[kvt].sets
}

// labelSet is an interned set of labels, shared by every item and parent that
// has exactly those labels.
type labelSet struct {
	pairs   []pair // sorted by key string
	next    uint32 // next set in the same hash chain of store.setIDs
	refs    uint32 // groups whose own labels these are, plus parents with these labels
	groups  uint32 // first group whose own labels these are (linked by group.setNext)
	parents uint32 // first parent with these labels (linked by parent.setNext)
}

// term is a posting: a label key on its own, or a (key, value) pair. It lists
// the label sets that contain it and the selectors indexed under it.
type term struct {
	id    uint64   // key<<32 | value; value 0 for a key-only term
	sets  []uint32 // label sets containing the term, in no particular order
	sels  []uint32 // selectors indexed under the term
	reach int      // how many groups can get the term (see the package doc)
}

// store interns strings and label sets and keeps the term postings. It knows
// nothing of items or selectors beyond the selector numbers held in terms.
type store struct {
	strIDs  map[string]uint32
	strs    table[str]
	setIDs  map[uint64]uint32 // hash of a set's pairs → first set in the chain
	sets    table[labelSet]
	termIDs map[uint64]uint32
	terms   table[term]

	keyBuf  []string // scratch for newSet
	pairBuf []pair   // scratch for acquireSet
}

func newStore() store {
	return store{
		strIDs:  map[string]uint32{},
		setIDs:  map[uint64]uint32{},
		termIDs: map[uint64]uint32{},
	}
}

// internStr returns the number of s, taking a reference to it.
func (st *store) internStr(s string) uint32 {
	if id, ok := st.strIDs[s]; ok {
		st.strs.at(id).refs++
		return id
	}
	// Copy the string so that the index never pins a larger buffer the
	// caller's string may be a slice of (a decoded JSON document, say).
	s = strings.Clone(s)
	id := st.strs.add(str{s: s, refs: 1})
	st.strIDs[s] = id
	return id
}

func (st *store) releaseStr(id uint32) {
	s := st.strs.at(id)
	if s.refs--; s.refs == 0 {
		delete(st.strIDs, s.s)
		st.strs.remove(id)
	}
}

func (st *store) text(id uint32) string { return st.strs.at(id).s }

// termFor returns the number of term (k, v), creating it if needed. Terms
// hold no references: a term lives while a set or selector is in it, and
// those hold references to its strings.
func (st *store) termFor(k, v uint32) uint32 {
	id := uint64(k)<<32 | uint64(v)
	if t, ok := st.termIDs[id]; ok {
		return t
	}
	t := st.terms.add(term{id: id})
	st.termIDs[id] = t
	return t
}

// reach returns the reach of term (k, v), 0 if it does not exist.
func (st *store) reach(k, v uint32) int {
	if t := st.termIDs[uint64(k)<<32|uint64(v)]; t != 0 {
		return st.terms.at(t).reach
	}
	return 0
}

func (st *store) maybeFreeTerm(t uint32) {
	tm := st.terms.at(t)
	if len(tm.sets) == 0 && len(tm.sels) == 0 {
		delete(st.termIDs, tm.id)
		st.terms.remove(t)
	}
}

// hashPairs hashes a set's labels without regard to their order, so that a
// set can be looked up from a map's labels without sorting the strings.
// Collisions only cost a longer chain, and string numbers are chosen by the
// index, so a label author cannot aim for them.
func hashPairs(ps []pair) uint64 {
	var h uint64
	for _, p := range ps {
		// The splitmix64 finaliser, so that the sum of the pairs' hashes
		// is well spread.
		z := uint64(p.k)<<32 | uint64(p.v)
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		h += z ^ z>>31
	}
	return h
}

func byKeyNumber(a, b pair) int { return int(a.k) - int(b.k) }

// sameLabels reports whether a stored set's pairs (in key string order) are
// exactly byNumber (in key number order).
func sameLabels(stored, byNumber []pair) bool {
	if len(stored) != len(byNumber) {
		return false
	}
	for _, p := range stored {
		i, ok := slices.BinarySearchFunc(byNumber, p, byKeyNumber)
		if !ok || byNumber[i].v != p.v {
			return false
		}
	}
	return true
}

// acquireSet returns the number of the interned set with exactly labels,
// creating it if needed, and takes a reference to it. Empty labels are set 0,
// which is not reference counted.
func (st *store) acquireSet(labels map[string]string) uint32 {
	if len(labels) == 0 {
		return 0
	}
	// Look the set up without interning anything: if a string is unknown,
	// so is the set.
	buf, known := st.pairBuf[:0], true
	for k, v := range labels {
		kid, vid := st.strIDs[k], st.strIDs[v]
		if kid == 0 || vid == 0 {
			known = false
			break
		}
		buf = append(buf, pair{k: kid, v: vid})
	}
	st.pairBuf = buf
	if known {
		slices.SortFunc(buf, byKeyNumber)
		for id := st.setIDs[hashPairs(buf)]; id != 0; id = st.sets.at(id).next {
			if sameLabels(st.sets.at(id).pairs, buf) {
				st.sets.at(id).refs++
				return id
			}
		}
	}
	return st.newSet(labels)
}

// newSet interns a set that does not exist yet, with one reference.
func (st *store) newSet(labels map[string]string) uint32 {
	keys := st.keyBuf[:0]
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pairs := make([]pair, len(keys))
	for i, k := range keys {
		pairs[i].k = st.internStr(k)
		pairs[i].v = st.internStr(labels[k])
	}
	clear(keys) // do not keep the caller's strings
	st.keyBuf = keys[:0]

	h := hashPairs(pairs)
	id := st.sets.add(labelSet{pairs: pairs, next: st.setIDs[h], refs: 1})
	st.setIDs[h] = id
	for i := range pairs {
		p := &pairs[i]
		p.kt = st.termFor(p.k, 0)
		p.kvt = st.termFor(p.k, p.v)
		kt, kvt := st.terms.at(p.kt), st.terms.at(p.kvt)
		p.kpos, p.kvpos = uint32(len(kt.sets)), uint32(len(kvt.sets))
		kt.sets = append(kt.sets, id)
		kvt.sets = append(kvt.sets, id)
	}
	return id
}

// equal reports whether set id (0 for none) holds exactly labels.
func (st *store) equal(id uint32, labels map[string]string) bool {
	if id == 0 {
		return len(labels) == 0
	}
	pairs := st.sets.at(id).pairs
	if len(pairs) != len(labels) {
		return false
	}
	for _, p := range pairs {
		if v, ok := labels[st.text(p.k)]; !ok || v != st.text(p.v) {
			return false
		}
	}
	return true
}

// releaseSet drops a reference to set id (0 is ignored), freeing the set,
// its strings and any terms left empty when it was the last one.
func (st *store) releaseSet(id uint32) {
	if id == 0 {
		return
	}
	s := st.sets.at(id)
	if s.refs--; s.refs > 0 {
		return
	}
	pairs := s.pairs
	h := hashPairs(pairs)
	if first := st.setIDs[h]; first == id {
		if s.next == 0 {
			delete(st.setIDs, h)
		} else {
			st.setIDs[h] = s.next
		}
	} else {
		prev := first
		for st.sets.at(prev).next != id {
			prev = st.sets.at(prev).next
		}
		st.sets.at(prev).next = s.next
	}
	for _, p := range pairs {
		st.leaveTerm(p.kt, p.kpos, id)
		st.leaveTerm(p.kvt, p.kvpos, id)
		st.releaseStr(p.k)
		st.releaseStr(p.v)
	}
	st.sets.remove(id)
}

// leaveTerm removes set id, at position pos, from term t by moving the last
// set of the term into its place.
func (st *store) leaveTerm(t, pos, id uint32) {
	tm := st.terms.at(t)
	last := tm.sets[len(tm.sets)-1]
	tm.sets[pos] = last
	tm.sets = tm.sets[:len(tm.sets)-1]
	if cap(tm.sets) > 64 && len(tm.sets) < cap(tm.sets)/4 {
		tm.sets = slices.Clip(slices.Clone(tm.sets)) // give memory back after mass deletions
	}
	if last != id {
		moved := st.sets.at(last).pairs
		for i := range moved {
			switch t {
			case moved[i].kt:
				moved[i].kpos = pos
			case moved[i].kvt:
				moved[i].kvpos = pos
			default:
				continue
			}
			break
		}
	}
	st.maybeFreeTerm(t)
}

// find returns the index of the pair with key in set id, or -1.
func (st *store) find(id uint32, key string) int {
	pairs := st.sets.at(id).pairs
	lo, hi := 0, len(pairs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if st.strs.at(pairs[m].k).s < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(pairs) && st.strs.at(pairs[lo].k).s == key {
		return lo
	}
	return -1
}

// findNum returns the index of the pair with key number k in set id, or -1.
// It compares numbers, not strings, which for short sets is cheaper than a
// binary search by string.
func (st *store) findNum(id, k uint32) int {
	pairs := st.sets.at(id).pairs
	if len(pairs) > 16 {
		return st.find(id, st.text(k))
	}
	for i := range pairs {
		if pairs[i].k == k {
			return i
		}
	}
	return -1
}

// addReach adds n to the reach of every term of set id (0 is ignored).
func (st *store) addReach(id uint32, n int) {
	if id == 0 || n == 0 {
		return
	}
	for _, p := range st.sets.at(id).pairs {
		st.terms.at(p.kt).reach += n
		st.terms.at(p.kvt).reach += n
	}
}

// view is the effective labels of a group: its own label set, then the label
// sets of its parents in priority order. It implements selector.Labels
// without building a map.
type view struct {
	st      *store
	own     uint32   // 0 for no own labels
	parents []uint32 // label sets of the parents that have labels
}

// Get returns the effective value of key: the item's own, else that of its
// first parent that has the key.
func (v *view) Get(key string) (string, bool) {
	if v.own != 0 {
		if i := v.st.find(v.own, key); i >= 0 {
			return v.st.text(v.st.sets.at(v.own).pairs[i].v), true
		}
	}
	for _, p := range v.parents {
		if i := v.st.find(p, key); i >= 0 {
			return v.st.text(v.st.sets.at(p).pairs[i].v), true
		}
	}
	return "", false
}

// value returns the string number of the effective value of key k, or 0.
func (v *view) value(k uint32) uint32 {
	if v.own != 0 {
		if i := v.st.findNum(v.own, k); i >= 0 {
			return v.st.sets.at(v.own).pairs[i].v
		}
	}
	for _, p := range v.parents {
		if i := v.st.findNum(p, k); i >= 0 {
			return v.st.sets.at(p).pairs[i].v
		}
	}
	return 0
}

// shadowed reports whether the label with key k of parent set number i of
// the view is hidden by the item's own labels or an earlier parent's.
func (v *view) shadowed(i int, k uint32) bool {
	if v.own != 0 && v.st.findNum(v.own, k) >= 0 {
		return true
	}
	for _, p := range v.parents[:i] {
		if v.st.findNum(p, k) >= 0 {
			return true
		}
	}
	return false
}

// effective calls fn for each effective label of the view, once per key.
func (v *view) effective(fn func(p *pair)) {
	st := v.st
	if v.own != 0 {
		pairs := st.sets.at(v.own).pairs
		for i := range pairs {
			fn(&pairs[i])
		}
	}
	for i, ps := range v.parents {
		pairs := st.sets.at(ps).pairs
		for j := range pairs {
			if !v.shadowed(i, pairs[j].k) {
				fn(&pairs[j])
			}
		}
	}
}

// appendSels appends the selectors indexed under the view's effective
// labels (not those on the scan list). Each selector is indexed under terms
// of a single key, and the view has one value per key, so none is appended
// twice.
func (v *view) appendSels(out []uint32) []uint32 {
	st := v.st
	add := func(p *pair) {
		out = append(out, st.terms.at(p.kt).sels...)
		out = append(out, st.terms.at(p.kvt).sels...)
	}
	v.effective(add)
	return out
}
