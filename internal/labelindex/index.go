package labelindex

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/calicong/calico/internal/selector"
)

// item is one labelled item; it is a member of exactly one group.
type item[I comparable] struct {
	id         I
	group      uint32
	next, prev uint32 // neighbours in the group's item list
	hnext      uint32 // next item in the same bucket of Index.itemChains
}

// group is the set of items with the same own label set and the same parent
// list, and so the same effective labels. Selectors are evaluated once per
// group, not once per item. A group exists while it has items.
type group struct {
	own     uint32 // label set; 0 for none
	plist   uint32 // parent list; 0 for none
	items   uint32 // first item
	hnext   uint32 // next group in the same bucket of Index.groupChains
	setNext uint32 // neighbours among the groups with the same own label set
	setPrev uint32
	plNext  uint32 // neighbours among the groups with the same parent list
	plPrev  uint32
}

// groupHash is the hash of the group with own label set own and parent list
// pl in Index.groupChains.
func groupHash(own, pl uint32) uint64 { return mix(uint64(own)<<32 | uint64(pl)) }

// plist is an interned, de-duplicated list of parents, in priority order.
type plist struct {
	parents []uint32
	refs    uint32 // groups using it
	groups  uint32 // first group using it
}

// parent is a source of inherited labels. It exists while it has labels or
// a parent list names it.
type parent struct {
	name    string
	set     uint32 // its labels; 0 for none
	setNext uint32 // neighbours among the parents with the same label set
	setPrev uint32
	plists  []uint32 // parent lists that include it
	groups  int      // groups whose parent list includes it
	mark    uint32   // for de-duplicating parent lists
}

// How a selector is indexed.
const (
	kindScan   uint8 = iota // no usable restriction: evaluated against every group
	kindKey                 // under the key term of key: the key must be present
	kindValues              // under the value terms (key, v) for each v in vals
	kindNever               // its restrictions contradict each other: matches nothing
)

type selRec[S comparable] struct {
	id      S
	sel     *selector.Selector
	kind    uint8
	key     uint32   // string number of the key it is indexed by
	vals    []uint32 // kindValues: string numbers of the values
	terms   []uint32 // terms it is indexed under
	filters []filter // its other restrictions
}

// filter is a restriction on a label other than the one a selector is
// indexed by. A label set that has the label with a value the filter rules
// out (or at all, if it must be absent) cannot match the selector if it is a
// group's own label set, since own labels win. Its strings are interned, so
// that checking a label set compares numbers.
type filter struct {
	key    uint32
	absent bool
	values []uint32 // string numbers of the allowed values; empty: any value
}

// rejects reports whether own label set id rules out a match.
func (f *filter) rejects(st *store, id uint32) bool {
	v := st.valueOf(id, f.key)
	if v == 0 {
		return false // a parent may have it
	}
	return f.absent || (len(f.values) > 0 && !slices.Contains(f.values, v))
}

// Index tells which selectors match which items, where items inherit labels
// from parents. See the package documentation. Make one with New; the zero
// value is not usable.
type Index[I comparable, S comparable] struct {
	onStart, onStop func(sel S, item I)

	st store

	seed        maphash.Seed
	itemChains  chains // items by maphash.Comparable of their ID
	items       table[item[I]]
	groupChains chains // groups by groupHash of their own set and parent list
	groups      table[group]
	plistIDs    map[string]uint32 // parent numbers, 4 bytes each → parent list
	plists      table[plist]
	parentIDs   map[string]uint32
	parents     table[parent]
	selIDs      map[S]uint32
	sels        table[selRec[S]]
	scan        []uint32 // selectors of kindScan

	evals uint64 // selector evaluations, for tests of candidate pruning

	// Scratch space, reused so that updates do not allocate.
	mark      uint32
	va, vb    view
	selsA     []uint32
	selsB     []uint32
	parentBuf []uint32
	plistKey  []byte
}

// New creates an index. onMatchStarted/onMatchStopped are called synchronously from
// within the Update*/Delete* methods whenever a (selector, item) pair starts or stops
// matching. Each start is followed by at most one stop for the same pair; no duplicates.
// Either may be nil. They must not call back into the index.
func New[I comparable, S comparable](onMatchStarted, onMatchStopped func(sel S, item I)) *Index[I, S] {
	nop := func(S, I) {}
	if onMatchStarted == nil {
		onMatchStarted = nop
	}
	if onMatchStopped == nil {
		onMatchStopped = nop
	}
	x := &Index[I, S]{
		onStart:   onMatchStarted,
		onStop:    onMatchStopped,
		st:        newStore(),
		seed:      maphash.MakeSeed(),
		plistIDs:  map[string]uint32{},
		parentIDs: map[string]uint32{},
		selIDs:    map[S]uint32{},
	}
	x.va.st, x.vb.st = &x.st, &x.st
	return x
}

// UpdateLabels adds item id, or replaces its labels and parents. parents are
// in priority order; repeats are ignored, and parents that have no labels yet
// contribute none until UpdateParentLabels gives them some. The index does
// not keep labels or parents.
func (x *Index[I, S]) UpdateLabels(id I, labels map[string]string, parents []string) {
	it, h := x.findItem(id)
	exists := it != 0
	var old uint32
	if exists {
		// Updates that change nothing are common (an endpoint's status
		// changed, not its labels), so look for one before interning.
		old = x.items.at(it).group
		gr := x.groups.at(old)
		if x.sameParents(gr.plist, parents) && x.st.equal(gr.own, labels) {
			return
		}
	}
	own, created := x.st.internSet(labels)
	pl := x.acquirePlist(parents)
	var g uint32
	if !created { // a new set has no group yet
		g = x.findGroup(own, pl)
	}
	if g != 0 {
		// The group holds its own reference to the parent list, and uses
		// the set (which is therefore not a new one).
		x.releasePlist(pl)
		if g == old {
			return
		}
	} else {
		g = x.newGroup(own, pl)
	}
	if exists {
		x.unlink(it)
	} else {
		it = x.items.add(item[I]{id: id})
		x.itemChains.link(it, h, &x.items.at(it).hnext)
		x.rehashItems()
	}
	x.link(it, g)

	x.groupView(g, &x.vb)
	if exists {
		x.groupView(old, &x.va)
		x.diff(&x.va, &x.vb, 0, it)
		if x.groups.at(old).items == 0 {
			x.freeGroup(old)
		}
	} else {
		x.diff(nil, &x.vb, 0, it)
	}
}

// DeleteLabels removes item id, reporting the end of each of its matches.
func (x *Index[I, S]) DeleteLabels(id I) {
	it, h := x.findItem(id)
	if it == 0 {
		return
	}
	g := x.items.at(it).group
	x.unlink(it)
	x.groupView(g, &x.va)
	x.diff(&x.va, nil, 0, it)
	x.itemChains.unlink(it, h, func(i uint32) *uint32 { return &x.items.at(i).hnext })
	x.items.remove(it)
	x.rehashItems()
	if x.groups.at(g).items == 0 {
		x.freeGroup(g)
	}
}

// UpdateParentLabels adds parent name, or replaces its labels, and
// re-evaluates the items that list it.
func (x *Index[I, S]) UpdateParentLabels(name string, labels map[string]string) {
	set, _ := x.st.internSet(labels)
	p, ok := x.parentIDs[name]
	if !ok {
		if set == 0 {
			return
		}
		p = x.parents.add(parent{name: strings.Clone(name)})
		x.parentIDs[x.parents.at(p).name] = p
	}
	x.setParentLabels(p, set)
}

// DeleteParentLabels removes parent name's labels. Items that list it keep
// doing so, and get its labels again if it comes back.
func (x *Index[I, S]) DeleteParentLabels(name string) {
	if p, ok := x.parentIDs[name]; ok {
		x.setParentLabels(p, 0)
	}
}

// setParentLabels gives parent p label set set.
func (x *Index[I, S]) setParentLabels(p, set uint32) {
	old := x.parents.at(p).set
	if old == set {
		return
	}
	for _, pl := range x.parents.at(p).plists {
		for g := x.plists.at(pl).groups; g != 0; g = x.groups.at(g).plNext {
			x.groupView(g, &x.va)
			x.groupViewWith(g, p, set, &x.vb)
			x.diff(&x.va, &x.vb, g, 0)
		}
	}
	n := x.parents.at(p).groups
	x.st.addReach(old, -n)
	x.st.addReach(set, n)
	x.unlinkParent(p)
	x.parents.at(p).set = set
	x.linkParent(p)
	x.st.maybeFreeSet(old)
	x.maybeFreeParent(p)
}

// UpdateSelector adds selector id, or replaces it; sel must not be nil (use
// selector.MustParse("all()") for all). Replacing a selector with one of the
// same UniqueID reports nothing.
func (x *Index[I, S]) UpdateSelector(id S, sel *selector.Selector) {
	s, exists := x.selIDs[id]
	if exists && x.sels.at(s).sel.UniqueID() == sel.UniqueID() {
		x.sels.at(s).sel = sel
		return
	}
	nr := x.plan(id, sel)
	if !exists {
		s = x.sels.add(nr)
		x.selIDs[id] = s
		x.forEachGroup(&nr, func(g uint32) bool {
			x.groupView(g, &x.va)
			if x.eval(nr.sel, &x.va) {
				x.emit(s, true, g, 0)
			}
			return true
		})
		x.register(s)
		return
	}
	old := *x.sels.at(s)
	x.forEachGroup(&old, func(g uint32) bool {
		x.groupView(g, &x.va)
		if x.eval(old.sel, &x.va) && !x.eval(nr.sel, &x.va) {
			x.emit(s, false, g, 0)
		}
		return true
	})
	x.forEachGroup(&nr, func(g uint32) bool {
		x.groupView(g, &x.va)
		if x.eval(nr.sel, &x.va) && !x.eval(old.sel, &x.va) {
			x.emit(s, true, g, 0)
		}
		return true
	})
	*x.sels.at(s) = nr
	// Register before unregistering, so that a term both use survives.
	x.register(s)
	x.unregister(&old, s)
}

// DeleteSelector removes selector id, reporting the end of each of its
// matches.
func (x *Index[I, S]) DeleteSelector(id S) {
	s, ok := x.selIDs[id]
	if !ok {
		return
	}
	r := *x.sels.at(s)
	x.forEachGroup(&r, func(g uint32) bool {
		x.groupView(g, &x.va)
		if x.eval(r.sel, &x.va) {
			x.emit(s, false, g, 0)
		}
		return true
	})
	x.unregister(&r, s)
	delete(x.selIDs, id)
	x.sels.remove(s)
}

func (x *Index[I, S]) eval(sel *selector.Selector, v *view) bool {
	x.evals++
	return sel.EvaluateLabels(v)
}

// emit reports that selector s started or stopped matching item it, or if it
// is 0, every item of group g.
func (x *Index[I, S]) emit(s uint32, start bool, g, it uint32) {
	f := x.onStop
	if start {
		f = x.onStart
	}
	id := x.sels.at(s).id
	if it != 0 {
		f(id, x.items.at(it).id)
		return
	}
	for i := x.groups.at(g).items; i != 0; i = x.items.at(i).next {
		f(id, x.items.at(i).id)
	}
}

// diff reports the selectors whose result differs between effective labels
// a and b (either may be nil: no labels at all, not even the empty set), for
// item it, or if it is 0 for every item of group g. Only candidate selectors
// are evaluated: those that need no particular label, and those indexed
// under an effective label of a or b.
func (x *Index[I, S]) diff(a, b *view, g, it uint32) {
	for _, s := range x.scan {
		x.diffOne(s, a, b, g, it)
	}
	if a != nil {
		x.selsA = a.appendSels(x.selsA[:0])
		for _, s := range x.selsA {
			x.diffOne(s, a, b, g, it)
		}
	}
	if b != nil {
		x.selsB = b.appendSels(x.selsB[:0])
		for _, s := range x.selsB {
			if a != nil && x.indexedFor(s, a) {
				continue // done above
			}
			if x.eval(x.sels.at(s).sel, b) {
				x.emit(s, true, g, it)
			}
		}
	}
}

func (x *Index[I, S]) diffOne(s uint32, a, b *view, g, it uint32) {
	sel := x.sels.at(s).sel
	was := a != nil && x.eval(sel, a)
	is := b != nil && x.eval(sel, b)
	if was != is {
		x.emit(s, is, g, it)
	}
}

// indexedFor reports whether view v has a label that selector s is indexed
// under, that is whether v.appendSels lists s.
func (x *Index[I, S]) indexedFor(s uint32, v *view) bool {
	r := x.sels.at(s)
	val := v.value(r.key)
	if r.kind == kindKey {
		return val != 0
	}
	return val != 0 && slices.Contains(r.vals, val)
}

// groupView sets v to the effective labels of group g.
func (x *Index[I, S]) groupView(g uint32, v *view) { x.groupViewWith(g, 0, 0, v) }

// groupViewWith is groupView with parent p's labels taken to be set.
func (x *Index[I, S]) groupViewWith(g, p, set uint32, v *view) {
	gr := x.groups.at(g)
	v.own = gr.own
	v.parents = v.parents[:0]
	if gr.plist == 0 {
		return
	}
	for _, q := range x.plists.at(gr.plist).parents {
		s := x.parents.at(q).set
		if q == p {
			s = set
		}
		if s != 0 {
			v.parents = append(v.parents, s)
		}
	}
}

// forEachGroup calls fn for every group that selector r could match, each
// once, until fn returns false. Groups come from r's terms: those whose own
// labels contain a term, and those that get the term from a parent (the
// first parent with the key, and only if the group's own labels lack it).
func (x *Index[I, S]) forEachGroup(r *selRec[S], fn func(g uint32) bool) bool {
	switch r.kind {
	case kindNever:
		return true
	case kindScan:
		for g := uint32(1); g < x.groups.slots(); g++ {
			if x.groups.at(g).items != 0 && !fn(g) {
				return false
			}
		}
		return true
	case kindKey:
		for _, t := range x.st.terms.at(r.terms[0]).vals {
			if !x.termGroups(r, t, fn) {
				return false
			}
		}
		return true
	}
	for _, t := range r.terms {
		if !x.termGroups(r, t, fn) {
			return false
		}
	}
	return true
}

// termGroups calls fn for the groups that have value term t, from their own
// labels or from a parent, until fn returns false.
func (x *Index[I, S]) termGroups(r *selRec[S], t uint32, fn func(g uint32) bool) bool {
	for _, s := range x.st.terms.at(t).sets {
		if !x.ownGroups(r, s, fn) || !x.inheritingGroups(s, r.key, fn) {
			return false
		}
	}
	return true
}

// ownGroups calls fn for the groups whose own labels are set s, unless one
// of r's filters rules them all out.
func (x *Index[I, S]) ownGroups(r *selRec[S], s uint32, fn func(g uint32) bool) bool {
	first := x.st.sets.at(s).groups
	if first == 0 {
		return true
	}
	for i := range r.filters {
		if r.filters[i].rejects(&x.st, s) {
			return true
		}
	}
	for g := first; g != 0; g = x.groups.at(g).setNext {
		if !fn(g) {
			return false
		}
	}
	return true
}

// inheritingGroups calls fn for the groups that get label key from a parent
// whose labels are set s: groups that do not have the key themselves and
// have no earlier parent with it.
func (x *Index[I, S]) inheritingGroups(s, key uint32, fn func(g uint32) bool) bool {
	for p := x.st.sets.at(s).parents; p != 0; p = x.parents.at(p).setNext {
		for _, pl := range x.parents.at(p).plists {
			if x.earlierParentHas(pl, p, key) {
				continue
			}
			for g := x.plists.at(pl).groups; g != 0; g = x.groups.at(g).plNext {
				if own := x.groups.at(g).own; own != 0 && x.st.valueOf(own, key) != 0 {
					continue
				}
				if !fn(g) {
					return false
				}
			}
		}
	}
	return true
}

// earlierParentHas reports whether a parent before p in parent list pl has
// label key.
func (x *Index[I, S]) earlierParentHas(pl, p, key uint32) bool {
	for _, q := range x.plists.at(pl).parents {
		if q == p {
			return false
		}
		if set := x.parents.at(q).set; set != 0 && x.st.valueOf(set, key) != 0 {
			return true
		}
	}
	return false
}

// plan works out how to index sel: by the restricted label whose terms
// reach the fewest groups now, with its other restrictions as filters. It
// interns the strings and terms it uses.
func (x *Index[I, S]) plan(id S, sel *selector.Selector) selRec[S] {
	r := selRec[S]{id: id, sel: sel}
	restrictions := sel.Restrictions()
	keys := make([]string, 0, len(restrictions))
	for k, rr := range restrictions {
		if rr.MustBePresent && rr.MustBeAbsent {
			r.kind = kindNever
			return r
		}
		keys = append(keys, k)
	}
	slices.Sort(keys) // ties go to the first key, whatever the map order
	best, bestReach := "", -1
	for _, k := range keys {
		rr := restrictions[k]
		if !rr.MustBePresent {
			continue
		}
		reach := x.reach(k, rr.Values)
		better := bestReach < 0 || reach < bestReach ||
			(reach == bestReach && len(rr.Values) > 0 && len(restrictions[best].Values) == 0)
		if better {
			best, bestReach = k, reach
		}
	}
	if bestReach < 0 {
		r.kind = kindScan
		return r
	}
	r.key = x.st.internStr(best)
	if values := restrictions[best].Values; len(values) == 0 {
		r.kind = kindKey
		r.terms = []uint32{x.st.keyTerm(r.key)}
	} else {
		r.kind = kindValues
		r.vals = make([]uint32, len(values))
		r.terms = make([]uint32, len(values))
		for i, v := range values {
			r.vals[i] = x.st.internStr(v)
			r.terms[i] = x.st.valueTerm(best, v)
		}
	}
	for _, k := range keys {
		// A label that must merely be present rules out no own label set:
		// a parent may provide it.
		if rr := restrictions[k]; k != best && (rr.MustBeAbsent || len(rr.Values) > 0) {
			f := filter{key: x.st.internStr(k), absent: rr.MustBeAbsent}
			for _, v := range rr.Values {
				f.values = append(f.values, x.st.internStr(v))
			}
			r.filters = append(r.filters, f)
		}
	}
	return r
}

// reach estimates how many groups a selector that needs key (with one of
// values, if any) could match.
func (x *Index[I, S]) reach(key string, values []string) int {
	if len(values) == 0 {
		if k := x.st.strIDs[key]; k != 0 {
			if t := x.st.strs.at(k).kterm; t != 0 {
				return x.st.terms.at(t).reach
			}
		}
		return 0
	}
	n := 0
	for _, v := range values {
		if t := x.st.termIDs[kv{key, v}]; t != 0 {
			n += x.st.terms.at(t).reach
		}
	}
	return n
}

// register adds selector s to the lists that its record says it is in.
func (x *Index[I, S]) register(s uint32) {
	r := x.sels.at(s)
	switch r.kind {
	case kindScan:
		x.scan = append(x.scan, s)
	case kindKey, kindValues:
		for _, t := range r.terms {
			x.st.terms.at(t).sels = append(x.st.terms.at(t).sels, s)
		}
	}
}

// unregister removes selector s, as described by r, from the lists r says
// it is in, and drops r's references.
func (x *Index[I, S]) unregister(r *selRec[S], s uint32) {
	switch r.kind {
	case kindScan:
		x.scan = removeOne(x.scan, s)
	case kindKey, kindValues:
		for _, t := range r.terms {
			tm := x.st.terms.at(t)
			tm.sels = removeOne(tm.sels, s)
			x.st.maybeFreeTerm(t)
		}
		x.st.releaseStr(r.key)
		for _, v := range r.vals {
			x.st.releaseStr(v)
		}
		for _, f := range r.filters {
			x.st.releaseStr(f.key)
			for _, v := range f.values {
				x.st.releaseStr(v)
			}
		}
	}
}

// removeOne removes the first v from list, keeping the order of the rest so
// that callbacks come in a stable order.
func removeOne(list []uint32, v uint32) []uint32 {
	if i := slices.Index(list, v); i >= 0 {
		return slices.Delete(list, i, i+1)
	}
	return list
}

// acquirePlist returns the interned list of the named parents without
// repeats, creating parents and the list as needed, and takes a reference to
// it. No parents is list 0.
func (x *Index[I, S]) acquirePlist(names []string) uint32 {
	if len(names) == 0 {
		return 0
	}
	if x.mark++; x.mark == 0 {
		for i := uint32(1); i < x.parents.slots(); i++ {
			x.parents.at(i).mark = 0
		}
		x.mark = 1
	}
	ids := x.parentBuf[:0]
	for _, n := range names {
		p, ok := x.parentIDs[n]
		if !ok {
			p = x.parents.add(parent{name: strings.Clone(n)})
			x.parentIDs[x.parents.at(p).name] = p
		}
		if x.parents.at(p).mark == x.mark {
			continue
		}
		x.parents.at(p).mark = x.mark
		ids = append(ids, p)
	}
	x.parentBuf = ids
	key := x.plistKeyOf(ids)
	if pl, ok := x.plistIDs[string(key)]; ok {
		x.plists.at(pl).refs++
		return pl
	}
	pl := x.plists.add(plist{parents: slices.Clone(ids), refs: 1})
	x.plistIDs[string(key)] = pl
	for _, p := range ids {
		x.parents.at(p).plists = append(x.parents.at(p).plists, pl)
	}
	return pl
}

// sameParents reports whether parent list pl is exactly names. It may
// report false for equivalent lists with repeats.
func (x *Index[I, S]) sameParents(pl uint32, names []string) bool {
	if pl == 0 {
		return len(names) == 0
	}
	ps := x.plists.at(pl).parents
	if len(ps) != len(names) {
		return false
	}
	for i, p := range ps {
		if x.parents.at(p).name != names[i] {
			return false
		}
	}
	return true
}

func (x *Index[I, S]) plistKeyOf(ids []uint32) []byte {
	key := x.plistKey[:0]
	for _, p := range ids {
		key = binary.LittleEndian.AppendUint32(key, p)
	}
	x.plistKey = key
	return key
}

func (x *Index[I, S]) releasePlist(pl uint32) {
	if pl == 0 {
		return
	}
	l := x.plists.at(pl)
	if l.refs--; l.refs > 0 {
		return
	}
	delete(x.plistIDs, string(x.plistKeyOf(l.parents)))
	for _, p := range l.parents {
		x.parents.at(p).plists = removeOne(x.parents.at(p).plists, pl)
		x.maybeFreeParent(p)
	}
	x.plists.remove(pl)
}

func (x *Index[I, S]) maybeFreeParent(p uint32) {
	pr := x.parents.at(p)
	if pr.set == 0 && len(pr.plists) == 0 {
		delete(x.parentIDs, pr.name)
		x.parents.remove(p)
	}
}

// linkParent adds parent p to the list of parents of its label set.
func (x *Index[I, S]) linkParent(p uint32) {
	pr := x.parents.at(p)
	if pr.set == 0 {
		return
	}
	s := x.st.sets.at(pr.set)
	pr.setNext, pr.setPrev = s.parents, 0
	if s.parents != 0 {
		x.parents.at(s.parents).setPrev = p
	}
	s.parents = p
}

func (x *Index[I, S]) unlinkParent(p uint32) {
	pr := x.parents.at(p)
	if pr.set == 0 {
		return
	}
	if pr.setPrev != 0 {
		x.parents.at(pr.setPrev).setNext = pr.setNext
	} else {
		x.st.sets.at(pr.set).parents = pr.setNext
	}
	if pr.setNext != 0 {
		x.parents.at(pr.setNext).setPrev = pr.setPrev
	}
	pr.setNext, pr.setPrev = 0, 0
}

// findItem returns the number of item id, or 0, and the hash of id.
func (x *Index[I, S]) findItem(id I) (uint32, uint64) {
	h := maphash.Comparable(x.seed, id)
	for it := x.itemChains.first(h); it != 0; it = x.items.at(it).hnext {
		if x.items.at(it).id == id {
			return it, h
		}
	}
	return 0, h
}

func (x *Index[I, S]) rehashItems() {
	rehash(&x.itemChains, &x.items,
		func(in *item[I]) uint64 { return maphash.Comparable(x.seed, in.id) },
		func(in *item[I]) *uint32 { return &in.hnext })
}

// findGroup returns the group with own label set own and parent list pl, or
// 0.
func (x *Index[I, S]) findGroup(own, pl uint32) uint32 {
	for g := x.groupChains.first(groupHash(own, pl)); g != 0; g = x.groups.at(g).hnext {
		if gr := x.groups.at(g); gr.own == own && gr.plist == pl {
			return g
		}
	}
	return 0
}

func (x *Index[I, S]) rehashGroups() {
	rehash(&x.groupChains, &x.groups,
		func(gr *group) uint64 { return groupHash(gr.own, gr.plist) },
		func(gr *group) *uint32 { return &gr.hnext })
}

// newGroup creates the group of items with own label set own and parent
// list pl, taking over the caller's reference to the list.
func (x *Index[I, S]) newGroup(own, pl uint32) uint32 {
	g := x.groups.add(group{own: own, plist: pl})
	x.groupChains.link(g, groupHash(own, pl), &x.groups.at(g).hnext)
	x.rehashGroups()
	gr := x.groups.at(g)
	if own != 0 {
		s := x.st.sets.at(own)
		gr.setNext = s.groups
		if s.groups != 0 {
			x.groups.at(s.groups).setPrev = g
		}
		s.groups = g
		x.st.addReach(own, 1)
	}
	if pl != 0 {
		l := x.plists.at(pl)
		gr.plNext = l.groups
		if l.groups != 0 {
			x.groups.at(l.groups).plPrev = g
		}
		l.groups = g
		for _, p := range l.parents {
			x.parents.at(p).groups++
			x.st.addReach(x.parents.at(p).set, 1)
		}
	}
	return g
}

// freeGroup removes group g, which has no items left.
func (x *Index[I, S]) freeGroup(g uint32) {
	gr := *x.groups.at(g)
	if gr.own != 0 {
		if gr.setPrev != 0 {
			x.groups.at(gr.setPrev).setNext = gr.setNext
		} else {
			x.st.sets.at(gr.own).groups = gr.setNext
		}
		if gr.setNext != 0 {
			x.groups.at(gr.setNext).setPrev = gr.setPrev
		}
		x.st.addReach(gr.own, -1)
	}
	if gr.plist != 0 {
		if gr.plPrev != 0 {
			x.groups.at(gr.plPrev).plNext = gr.plNext
		} else {
			x.plists.at(gr.plist).groups = gr.plNext
		}
		if gr.plNext != 0 {
			x.groups.at(gr.plNext).plPrev = gr.plPrev
		}
		for _, p := range x.plists.at(gr.plist).parents {
			x.parents.at(p).groups--
			x.st.addReach(x.parents.at(p).set, -1)
		}
	}
	x.groupChains.unlink(g, groupHash(gr.own, gr.plist), func(i uint32) *uint32 { return &x.groups.at(i).hnext })
	x.groups.remove(g)
	x.rehashGroups()
	x.st.maybeFreeSet(gr.own)
	x.releasePlist(gr.plist)
}

// link adds item it to group g.
func (x *Index[I, S]) link(it, g uint32) {
	gr := x.groups.at(g)
	in := x.items.at(it)
	in.group, in.prev, in.next = g, 0, gr.items
	if gr.items != 0 {
		x.items.at(gr.items).prev = it
	}
	gr.items = it
}

// unlink removes item it from its group, leaving in.group set so that the
// caller can still look at the group.
func (x *Index[I, S]) unlink(it uint32) {
	in := x.items.at(it)
	gr := x.groups.at(in.group)
	if in.prev != 0 {
		x.items.at(in.prev).next = in.next
	} else {
		gr.items = in.next
	}
	if in.next != 0 {
		x.items.at(in.next).prev = in.prev
	}
	in.next, in.prev = 0, 0
}
