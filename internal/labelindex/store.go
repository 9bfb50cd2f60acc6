package labelindex

import (
	"slices"
	"strings"
)

// str is an interned string: a label key or value.
type str struct {
	s     string
	refs  uint32 // terms and selector index entries using it
	kterm uint32 // the key term of s as a label key; 0 if none
}

// pair is one label of a label set: its value term, which says the key and
// the value, and the place of the set in that term's postings.
type pair struct {
	t   uint32 // value term (k, v)
	pos uint32 // index of the set in terms[t].sets
}

// labelSet is an interned set of labels, shared by every item and parent that
// has exactly those labels. It exists while a group or a parent uses it.
type labelSet struct {
	off     uint32 // its pairs, sorted by key string: run off, n of the arena
	n       uint32
	hash    uint32 // hashTerms of its terms
	hnext   uint32 // next set in the same bucket of store.setChains
	groups  uint32 // first group whose own labels these are (linked by group.setNext)
	parents uint32 // first parent with these labels (linked by parent.setNext)
}

// term is a posting. A value term is a (key, value) pair and lists the label
// sets that contain it; a key term is a key on its own and lists the value
// terms of that key, so the sets with the key are those of its value terms.
// Both list the selectors indexed under them.
type term struct {
	key, val string   // the key and, for a value term, the value
	k, v     uint32   // their string numbers; v is 0 for a key term
	kt       uint32   // value term: the key term of its key
	kpos     uint32   // value term: its index in terms[kt].vals
	sets     []uint32 // value term: label sets containing it, in no particular order
	vals     []uint32 // key term: its value terms, in no particular order
	sels     []uint32 // selectors indexed under the term
	reach    int      // how many groups can get the term (see the package doc)
}

// kv is the key of a value term in store.termIDs.
type kv struct{ k, v string }

// termStrs is the string numbers of a term's key and value, kept in a dense
// slice beside the terms so that finding a key in a label set compares
// numbers in a few cache lines rather than in the terms' records.
type termStrs struct{ k, v uint32 }

// store interns strings and label sets and keeps the term postings. It knows
// nothing of items or selectors beyond the selector numbers held in terms.
type store struct {
	strIDs    map[string]uint32
	strs      table[str]
	termIDs   map[kv]uint32 // value terms; key terms are found from their string
	terms     table[term]
	termStrs  []termStrs // indexed by term number
	sets      table[labelSet]
	setChains chains // sets by hashTerms of their terms
	pairs     arena

	termBuf []uint32 // scratch for internSet
}

func newStore() store {
	return store{
		strIDs:  map[string]uint32{},
		termIDs: map[kv]uint32{},
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

// keyTerm returns the key term of string k, creating it if needed. A term
// holds references to its strings, and lives while it lists anything.
func (st *store) keyTerm(k uint32) uint32 {
	if t := st.strs.at(k).kterm; t != 0 {
		return t
	}
	st.strs.at(k).refs++
	t := st.terms.add(term{key: st.text(k), k: k})
	st.strs.at(k).kterm = t
	st.setTermStrs(t, k, 0)
	return t
}

func (st *store) setTermStrs(t, k, v uint32) {
	if int(t) >= len(st.termStrs) {
		st.termStrs = append(st.termStrs, make([]termStrs, int(t)+1-len(st.termStrs))...)
	}
	st.termStrs[t] = termStrs{k, v}
}

// valueTerm returns the number of value term (key, value), creating it and
// its key term if needed.
func (st *store) valueTerm(key, value string) uint32 {
	if t, ok := st.termIDs[kv{key, value}]; ok {
		return t
	}
	k, v := st.internStr(key), st.internStr(value)
	kt := st.keyTerm(k)
	key, value = st.text(k), st.text(v) // the index's copies
	t := st.terms.add(term{key: key, val: value, k: k, v: v, kt: kt})
	ktm := st.terms.at(kt)
	st.terms.at(t).kpos = uint32(len(ktm.vals))
	ktm.vals = append(ktm.vals, t)
	st.termIDs[kv{key, value}] = t
	st.setTermStrs(t, k, v)
	return t
}

// maybeFreeTerm frees term t if it lists nothing, and then its key term if
// that lists nothing either.
func (st *store) maybeFreeTerm(t uint32) {
	tm := st.terms.at(t)
	if len(tm.sets) != 0 || len(tm.vals) != 0 || len(tm.sels) != 0 {
		return
	}
	st.termStrs[t] = termStrs{}
	if tm.v == 0 {
		st.strs.at(tm.k).kterm = 0
		st.releaseStr(tm.k)
		st.terms.remove(t)
		return
	}
	kt, kpos, k, v := tm.kt, tm.kpos, tm.k, tm.v
	delete(st.termIDs, kv{tm.key, tm.val})
	st.terms.remove(t)
	ktm := st.terms.at(kt)
	last := ktm.vals[len(ktm.vals)-1]
	ktm.vals[kpos] = last
	ktm.vals = ktm.vals[:len(ktm.vals)-1]
	if last != t {
		st.terms.at(last).kpos = kpos
	}
	st.releaseStr(k)
	st.releaseStr(v)
	st.maybeFreeTerm(kt)
}

// mix is the splitmix64 finaliser.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// hashTerms hashes a set's value terms without regard to their order, so
// that a set can be looked up from a map's labels without sorting. Collisions
// only cost a longer chain, and term numbers are chosen by the index, so a
// label author cannot aim for them.
func hashTerms(ts []uint32) uint32 {
	var h uint64
	for _, t := range ts {
		h += mix(uint64(t))
	}
	return uint32(h)
}

// pairsOf returns the pairs of set id, sorted by key string. The slice is
// good until the next set is created or freed.
func (st *store) pairsOf(id uint32) []pair {
	s := st.sets.at(id)
	return st.pairs.get(s.off, s.n)
}

// sameTerms reports whether set id holds exactly the distinct value terms
// ts, whose hash is h; it may sort ts.
func (st *store) sameTerms(id uint32, ts []uint32, h uint32) bool {
	s := st.sets.at(id)
	if s.hash != h || int(s.n) != len(ts) {
		return false
	}
	ps := st.pairs.get(s.off, s.n)
	if len(ts) <= 16 {
		for _, p := range ps {
			if !slices.Contains(ts, p.t) {
				return false
			}
		}
		return true
	}
	slices.Sort(ts)
	for _, p := range ps {
		if _, ok := slices.BinarySearch(ts, p.t); !ok {
			return false
		}
	}
	return true
}

// internSet returns the number of the interned set with exactly labels,
// creating it if needed (and then reporting created); empty labels are set
// 0. A new set is unused: the caller must give it to a group or a parent.
func (st *store) internSet(labels map[string]string) (id uint32, created bool) {
	if len(labels) == 0 {
		return 0, false
	}
	// Look the set up without interning anything: if a label has no term,
	// the set does not exist.
	buf, known := st.termBuf[:0], true
	for k, v := range labels {
		t := st.termIDs[kv{k, v}]
		if t == 0 {
			known = false
			break
		}
		buf = append(buf, t)
	}
	if known {
		h := hashTerms(buf)
		for id := st.setChains.first(uint64(h)); id != 0; id = st.sets.at(id).hnext {
			if st.sameTerms(id, buf, h) {
				st.termBuf = buf
				return id, false
			}
		}
	} else {
		buf = buf[:0]
		for k, v := range labels {
			buf = append(buf, st.valueTerm(k, v))
		}
	}
	st.termBuf = buf
	return st.newSet(buf), true
}

// newSet creates the set of value terms ts.
func (st *store) newSet(ts []uint32) uint32 {
	slices.SortFunc(ts, func(a, b uint32) int {
		return strings.Compare(st.terms.at(a).key, st.terms.at(b).key)
	})
	n, h := uint32(len(ts)), hashTerms(ts)
	off := st.pairs.alloc(n)
	id := st.sets.add(labelSet{off: off, n: n, hash: h})
	ps := st.pairs.get(off, n)
	for i, t := range ts {
		tm := st.terms.at(t)
		ps[i] = pair{t: t, pos: uint32(len(tm.sets))}
		tm.sets = append(tm.sets, id)
	}
	st.setChains.link(id, uint64(h), &st.sets.at(id).hnext)
	st.rehashSets()
	return id
}

func (st *store) rehashSets() {
	rehash(&st.setChains, &st.sets,
		func(s *labelSet) uint64 { return uint64(s.hash) },
		func(s *labelSet) *uint32 { return &s.hnext })
}

// equal reports whether set id (0 for none) holds exactly labels.
func (st *store) equal(id uint32, labels map[string]string) bool {
	if id == 0 {
		return len(labels) == 0
	}
	ps := st.pairsOf(id)
	if len(ps) != len(labels) {
		return false
	}
	for _, p := range ps {
		tm := st.terms.at(p.t)
		if v, ok := labels[tm.key]; !ok || v != tm.val {
			return false
		}
	}
	return true
}

// maybeFreeSet frees set id if no group or parent uses it (0 is ignored),
// with any terms left empty when it was their last set.
func (st *store) maybeFreeSet(id uint32) {
	if id == 0 {
		return
	}
	s := *st.sets.at(id)
	if s.groups != 0 || s.parents != 0 {
		return
	}
	ps := st.pairs.get(s.off, s.n)
	st.setChains.unlink(id, uint64(s.hash), func(i uint32) *uint32 { return &st.sets.at(i).hnext })
	st.sets.remove(id)
	for _, p := range ps {
		st.leaveTerm(p.t, p.pos, id)
	}
	st.pairs.release(s.off, s.n)
	st.rehashSets()
	if st.pairs.wasteful() {
		st.compact()
	}
}

// leaveTerm removes set id, at position pos, from value term t by moving the
// last set of the term into its place.
func (st *store) leaveTerm(t, pos, id uint32) {
	tm := st.terms.at(t)
	last := tm.sets[len(tm.sets)-1]
	tm.sets[pos] = last
	tm.sets = tm.sets[:len(tm.sets)-1]
	if cap(tm.sets) > 64 && len(tm.sets) < cap(tm.sets)/4 {
		tm.sets = slices.Clip(slices.Clone(tm.sets)) // give memory back after mass deletions
	}
	if last != id {
		moved := st.pairsOf(last)
		for i := range moved {
			if moved[i].t == t {
				moved[i].pos = pos
				break
			}
		}
	}
	st.maybeFreeTerm(t)
}

// compact copies the pairs of every set into a fresh arena, in set number
// order, leaving no idle space but the end of the last chunk.
func (st *store) compact() {
	old := st.pairs
	st.pairs = arena{}
	for id := uint32(1); id < st.sets.slots(); id++ {
		if !st.sets.inUse(id) {
			continue
		}
		s := st.sets.at(id)
		s.off = st.pairs.place(s.n, old.get(s.off, s.n))
	}
}

// lookup returns the value term of the label with key in set id, or 0.
func (st *store) lookup(id uint32, key string) uint32 {
	ps := st.pairsOf(id)
	lo, hi := 0, len(ps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if st.terms.at(ps[m].t).key < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(ps) {
		if t := ps[lo].t; st.terms.at(t).key == key {
			return t
		}
	}
	return 0
}

// valueOf returns the string number of the value of key k in set id, or 0
// if the set has no such label. It compares numbers, not strings, which for
// short sets is cheaper than a binary search by string.
func (st *store) valueOf(id, k uint32) uint32 {
	ps := st.pairsOf(id)
	if len(ps) > 16 {
		if t := st.lookup(id, st.text(k)); t != 0 {
			return st.termStrs[t].v
		}
		return 0
	}
	ts := st.termStrs
	for _, p := range ps {
		if s := ts[p.t]; s.k == k {
			return s.v
		}
	}
	return 0
}

// addReach adds n to the reach of every term of set id (0 is ignored): its
// value terms and their key terms.
func (st *store) addReach(id uint32, n int) {
	if id == 0 || n == 0 {
		return
	}
	for _, p := range st.pairsOf(id) {
		tm := st.terms.at(p.t)
		tm.reach += n
		st.terms.at(tm.kt).reach += n
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
		if t := v.st.lookup(v.own, key); t != 0 {
			return v.st.terms.at(t).val, true
		}
	}
	for _, p := range v.parents {
		if t := v.st.lookup(p, key); t != 0 {
			return v.st.terms.at(t).val, true
		}
	}
	return "", false
}

// value returns the string number of the effective value of key k, or 0.
func (v *view) value(k uint32) uint32 {
	if v.own != 0 {
		if val := v.st.valueOf(v.own, k); val != 0 {
			return val
		}
	}
	for _, p := range v.parents {
		if val := v.st.valueOf(p, k); val != 0 {
			return val
		}
	}
	return 0
}

// shadowed reports whether the label with key k of parent set number i of
// the view is hidden by the item's own labels or an earlier parent's.
func (v *view) shadowed(i int, k uint32) bool {
	if v.own != 0 && v.st.valueOf(v.own, k) != 0 {
		return true
	}
	for _, p := range v.parents[:i] {
		if v.st.valueOf(p, k) != 0 {
			return true
		}
	}
	return false
}

// effective calls fn with the value term of each effective label of the
// view, once per key.
func (v *view) effective(fn func(t uint32)) {
	st := v.st
	if v.own != 0 {
		for _, p := range st.pairsOf(v.own) {
			fn(p.t)
		}
	}
	for i, ps := range v.parents {
		for _, p := range st.pairsOf(ps) {
			if !v.shadowed(i, st.termStrs[p.t].k) {
				fn(p.t)
			}
		}
	}
}

// appendSels appends the selectors indexed under the view's effective
// labels (not those on the scan list): under their value terms and under
// their key terms. Each selector is indexed under terms of a single key, and
// the view has one value per key, so none is appended twice.
func (v *view) appendSels(out []uint32) []uint32 {
	st := v.st
	v.effective(func(t uint32) {
		tm := st.terms.at(t)
		out = append(out, tm.sels...)
		out = append(out, st.terms.at(tm.kt).sels...)
	})
	return out
}
