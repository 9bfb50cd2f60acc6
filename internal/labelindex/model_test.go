package labelindex

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/selector"
)

type match[I, S comparable] struct {
	sel  S
	item I
}

// recorder keeps the pairs an index reports, and fails the test on a
// duplicate start, a stop without a start, or a pair that changes twice in
// one step (a flicker that is not a real change).
type recorder[I, S comparable] struct {
	t       testing.TB
	current map[match[I, S]]bool
	step    map[match[I, S]]bool // pairs reported since the last reset
	events  int
}

func newRecorder[I, S comparable](t testing.TB) *recorder[I, S] {
	return &recorder[I, S]{t: t, current: map[match[I, S]]bool{}, step: map[match[I, S]]bool{}}
}

func (r *recorder[I, S]) started(s S, i I) {
	r.t.Helper()
	m := match[I, S]{s, i}
	if r.current[m] {
		r.t.Fatalf("duplicate start of selector %v on item %v", s, i)
	}
	r.note(m)
	r.current[m] = true
}

func (r *recorder[I, S]) stopped(s S, i I) {
	r.t.Helper()
	m := match[I, S]{s, i}
	if !r.current[m] {
		r.t.Fatalf("stop of selector %v on item %v, which had not started", s, i)
	}
	r.note(m)
	delete(r.current, m)
}

func (r *recorder[I, S]) note(m match[I, S]) {
	r.t.Helper()
	if r.step[m] {
		r.t.Fatalf("selector %v on item %v changed twice in one call", m.sel, m.item)
	}
	r.step[m] = true
	r.events++
}

// reset starts a new step and returns the number of events in the last one.
func (r *recorder[I, S]) reset() int {
	n := r.events
	clear(r.step)
	r.events = 0
	return n
}

func (r *recorder[I, S]) index() *Index[I, S] {
	return New(r.started, r.stopped)
}

// model is the obvious implementation the index is checked against.
type model struct {
	items   map[int]modelItem
	parents map[string]map[string]string
	sels    map[int]*selector.Selector
}

type modelItem struct {
	labels  map[string]string
	parents []string
}

func newModel() *model {
	return &model{items: map[int]modelItem{}, parents: map[string]map[string]string{}, sels: map[int]*selector.Selector{}}
}

func (m *model) effective(id int) map[string]string {
	it := m.items[id]
	out := map[string]string{}
	for _, p := range slices.Backward(it.parents) {
		maps.Copy(out, m.parents[p])
	}
	maps.Copy(out, it.labels)
	return out
}

func (m *model) matches() map[match[int, int]]bool {
	out := map[match[int, int]]bool{}
	for id := range m.items {
		labels := m.effective(id)
		for s, sel := range m.sels {
			if sel.Evaluate(labels) {
				out[match[int, int]{s, id}] = true
			}
		}
	}
	return out
}

// An alphabet small enough that random labels and selectors overlap a lot,
// and parents often have the same keys as items and as each other.
var (
	modelKeys    = []string{"a", "b", "c", "d"}
	modelValues  = []string{"x", "y", "z", ""}
	modelParents = []string{"p0", "p1", "p2", "p3"}
)

func randomLabels(rng *rand.Rand) map[string]string {
	if rng.IntN(6) == 0 {
		return nil
	}
	l := map[string]string{}
	for _, k := range modelKeys {
		if rng.IntN(2) == 0 {
			l[k] = modelValues[rng.IntN(len(modelValues))]
		}
	}
	return l
}

func randomParents(rng *rand.Rand) []string {
	var ps []string
	for range rng.IntN(4) {
		ps = append(ps, modelParents[rng.IntN(len(modelParents))])
	}
	return ps
}

func randomSelector(rng *rand.Rand, depth int) string {
	k := modelKeys[rng.IntN(len(modelKeys))]
	v := func() string { return `"` + modelValues[rng.IntN(len(modelValues))] + `"` }
	set := func() string {
		var m []string
		for range rng.IntN(3) + 1 {
			m = append(m, v())
		}
		return "{" + strings.Join(m, ", ") + "}"
	}
	n := 12
	if depth > 0 {
		n = 16
	}
	switch rng.IntN(n) {
	case 0, 1:
		return k + " == " + v()
	case 2:
		return k + " != " + v()
	case 3, 4:
		return k + " in " + set()
	case 5:
		return k + " not in " + set()
	case 6, 7:
		return "has(" + k + ")"
	case 8:
		return "!has(" + k + ")"
	case 9:
		return "all()"
	case 10:
		return k + " starts with " + v()
	case 11:
		return "!" + k + " == " + v()
	case 12:
		return "!(" + randomSelector(rng, depth-1) + ")"
	case 13, 14:
		return randomSelector(rng, depth-1) + " && " + randomSelector(rng, depth-1)
	default:
		return "(" + randomSelector(rng, depth-1) + " || " + randomSelector(rng, depth-1) + ")"
	}
}

// step applies one random operation to both the index and the model.
func step(rng *rand.Rand, x *Index[int, int], m *model) string {
	const items, sels = 10, 8
	switch op := rng.IntN(20); {
	case op < 7:
		id, labels, parents := rng.IntN(items), randomLabels(rng), randomParents(rng)
		if old, ok := m.items[id]; ok && rng.IntN(5) == 0 {
			labels, parents = maps.Clone(old.labels), slices.Clone(old.parents) // a no-op update
		}
		x.UpdateLabels(id, labels, parents)
		m.items[id] = modelItem{labels, parents}
		return fmt.Sprintf("UpdateLabels(%d, %v, %q)", id, labels, parents)
	case op < 9:
		id := rng.IntN(items)
		x.DeleteLabels(id)
		delete(m.items, id)
		return fmt.Sprintf("DeleteLabels(%d)", id)
	case op < 12:
		p, labels := modelParents[rng.IntN(len(modelParents))], randomLabels(rng)
		x.UpdateParentLabels(p, labels)
		m.parents[p] = labels
		return fmt.Sprintf("UpdateParentLabels(%q, %v)", p, labels)
	case op < 13:
		p := modelParents[rng.IntN(len(modelParents))]
		x.DeleteParentLabels(p)
		delete(m.parents, p)
		return fmt.Sprintf("DeleteParentLabels(%q)", p)
	case op < 18:
		id := rng.IntN(sels)
		src := randomSelector(rng, 3)
		if old, ok := m.sels[id]; ok && rng.IntN(5) == 0 {
			src = old.String() // the same selector again
		}
		sel := selector.MustParse(src)
		x.UpdateSelector(id, sel)
		m.sels[id] = sel
		return fmt.Sprintf("UpdateSelector(%d, %s)", id, sel)
	default:
		id := rng.IntN(sels)
		x.DeleteSelector(id)
		delete(m.sels, id)
		return fmt.Sprintf("DeleteSelector(%d)", id)
	}
}

func diffMatches(got, want map[match[int, int]]bool) string {
	var b strings.Builder
	for m := range want {
		if !got[m] {
			fmt.Fprintf(&b, "missing: selector %d, item %d\n", m.sel, m.item)
		}
	}
	for m := range got {
		if !want[m] {
			fmt.Fprintf(&b, "extra: selector %d, item %d\n", m.sel, m.item)
		}
	}
	return b.String()
}

// checkQueries compares the query methods with the model.
func checkQueries(t *testing.T, x *Index[int, int], m *model, want map[match[int, int]]bool) {
	t.Helper()
	for id := range m.items {
		l, ok := x.Labels(id)
		if !ok || !maps.Equal(map[string]string(l.(selector.Map)), m.effective(id)) {
			t.Fatalf("Labels(%d) = %v, %v; want %v", id, l, ok, m.effective(id))
		}
		got := map[match[int, int]]bool{}
		for s := range x.SelectorsMatching(id) {
			got[match[int, int]{s, id}] = true
		}
		for s := range m.sels {
			if got[match[int, int]{s, id}] != want[match[int, int]{s, id}] {
				t.Fatalf("SelectorsMatching(%d) is wrong for selector %d", id, s)
			}
		}
	}
	for s := range m.sels {
		n := 0
		for id := range x.Matches(s) {
			n++
			if !want[match[int, int]{s, id}] {
				t.Fatalf("Matches(%d) includes item %d", s, id)
			}
		}
		for mt := range want {
			if mt.sel == s {
				n--
			}
		}
		if n != 0 {
			t.Fatalf("Matches(%d) has the wrong number of items", s)
		}
	}
	if _, ok := x.Labels(-1); ok {
		t.Fatal("Labels of an unknown item reported ok")
	}
}

var (
	modelSeeds = flag.Int("model.seeds", 8, "TestAgainstModel: number of seeds")
	modelFirst = flag.Uint64("model.first", 0, "TestAgainstModel: first seed")
	modelSteps = flag.Int("model.steps", 4000, "TestAgainstModel: operations per seed (500 with -short)")
)

// TestAgainstModel runs random operations and checks after each one that
// the reported matches are exactly those a brute-force evaluation finds.
// Run it longer with, say, -model.seeds=50 -model.first=100 -model.steps=20000.
func TestAgainstModel(t *testing.T) {
	steps := *modelSteps
	if testing.Short() {
		steps = min(steps, 500)
	}
	for seed := *modelFirst; seed < *modelFirst+uint64(*modelSeeds); seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			rec := newRecorder[int, int](t)
			x := rec.index()
			m := newModel()
			var history []string
			for i := range steps {
				history = append(history, step(rng, x, m))
				rec.reset()
				want := m.matches()
				if d := diffMatches(rec.current, want); d != "" {
					t.Fatalf("after step %d:\n%s\nlast steps:\n%s", i, d, strings.Join(history[max(0, len(history)-10):], "\n"))
				}
				checkInvariants(t, x)
				if i%50 == 0 {
					checkQueries(t, x, m, want)
				}
			}
			replay(t, rng, m, rec.current)
			drain(t, x, m, rec)
		})
	}
}

// replay loads the model's final state into a fresh index in a random order
// and requires the same matches.
func replay(t *testing.T, rng *rand.Rand, m *model, want map[match[int, int]]bool) {
	t.Helper()
	rec := newRecorder[int, int](t)
	x := rec.index()
	var ops []func()
	for id, it := range m.items {
		ops = append(ops, func() { x.UpdateLabels(id, it.labels, it.parents) })
	}
	for p, l := range m.parents {
		ops = append(ops, func() { x.UpdateParentLabels(p, l) })
	}
	for s, sel := range m.sels {
		ops = append(ops, func() { x.UpdateSelector(s, sel) })
	}
	for round := range 3 {
		rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		events := 0
		for _, op := range ops {
			op()
			events += rec.reset()
		}
		if d := diffMatches(rec.current, want); d != "" {
			t.Fatalf("replaying the final state in a shuffled order:\n%s", d)
		}
		if round > 0 && events != 0 {
			t.Fatalf("replaying the same state again reported %d changes", events)
		}
	}
}

// drain deletes everything and checks that every match stops and the index
// keeps no memory for what it no longer holds.
func drain(t *testing.T, x *Index[int, int], m *model, rec *recorder[int, int]) {
	t.Helper()
	for p := range m.parents {
		x.DeleteParentLabels(p)
		rec.reset()
	}
	for id := range m.items {
		x.DeleteLabels(id)
		rec.reset()
	}
	for s := range m.sels {
		x.DeleteSelector(s)
		rec.reset()
	}
	if len(rec.current) != 0 {
		t.Fatalf("%d matches left after deleting everything", len(rec.current))
	}
	checkEmpty(t, x)
}

// checkEmpty checks that an index with nothing in it holds no records.
func checkEmpty[I, S comparable](t *testing.T, x *Index[I, S]) {
	t.Helper()
	for name, n := range map[string]int{
		"items": x.items.live(), "groups": x.groups.live(), "parent lists": x.plists.live(),
		"parents": x.parents.live(), "selectors": x.sels.live(), "label sets": x.st.sets.live(),
		"terms": x.st.terms.live(), "strings": x.st.strs.live(),
		"item chains": x.itemChains.n, "item buckets": len(x.itemChains.heads), "group chains": x.groupChains.n, "group buckets": len(x.groupChains.heads),
		"parent list map": len(x.plistIDs), "parent map": len(x.parentIDs), "selector map": len(x.selIDs),
		"set chains": x.st.setChains.n, "set buckets": len(x.st.setChains.heads),
		"term map": len(x.st.termIDs), "string map": len(x.st.strIDs), "scanned selectors": len(x.scan),
		"pairs": x.st.pairs.live, "idle pairs": x.st.pairs.idle, "pair chunks": len(x.st.pairs.chunks),
	} {
		if n != 0 {
			t.Errorf("empty index still has %d %s", n, name)
		}
	}
}

// checkInvariants recomputes the index's derived data from scratch: term
// postings and positions, reaches, string references, the lists of groups
// and parents of each set, the hash chains, and the use of the pair arena.
func checkInvariants[I, S comparable](t *testing.T, x *Index[I, S]) {
	t.Helper()
	st := &x.st
	reach := map[uint32]int{}    // term → groups that get it (ignoring shadowing)
	inSets := map[uint32]int{}   // value term → sets containing it
	ownOf := map[uint32]int{}    // set → groups whose own set it is
	parentOf := map[uint32]int{} // set → parents with it
	strRefs := map[uint32]uint32{}

	// Label sets and their pairs.
	type run struct{ off, n uint32 }
	var runs []run
	sets, pairs := 0, 0
	for s := uint32(1); s < st.sets.slots(); s++ {
		if !st.sets.inUse(s) {
			continue
		}
		sets++
		ls := st.sets.at(s)
		if ls.n == 0 {
			t.Fatalf("label set %d is empty", s)
		}
		if ls.groups == 0 && ls.parents == 0 {
			t.Fatalf("label set %d is used by nothing", s)
		}
		runs = append(runs, run{ls.off, ls.n})
		pairs += int(ls.n)
		ps := st.pairsOf(s)
		for i, p := range ps {
			if !st.terms.inUse(p.t) || st.terms.at(p.t).v == 0 {
				t.Fatalf("label set %d has a pair with term %d, which is not a value term", s, p.t)
			}
			tm := st.terms.at(p.t)
			if i > 0 && st.terms.at(ps[i-1].t).key >= tm.key {
				t.Fatalf("label set %d is not sorted", s)
			}
			if int(p.pos) >= len(tm.sets) || tm.sets[p.pos] != s {
				t.Fatalf("label set %d has a wrong term position", s)
			}
			inSets[p.t]++
		}
		ts := make([]uint32, len(ps))
		for i, p := range ps {
			ts[i] = p.t
		}
		if ls.hash != hashTerms(ts) {
			t.Fatalf("label set %d has the wrong hash", s)
		}
		found := false
		for id := st.setChains.first(uint64(ls.hash)); id != 0; id = st.sets.at(id).hnext {
			found = found || id == s
		}
		if !found {
			t.Fatalf("label set %d is not in its hash chain", s)
		}
		prev := uint32(0)
		for g := ls.groups; g != 0; g = x.groups.at(g).setNext {
			if gr := x.groups.at(g); gr.own != s || gr.setPrev != prev {
				t.Fatalf("group %d is in the list of label set %d, has own set %d and previous %d", g, s, gr.own, gr.setPrev)
			}
			ownOf[s]--
			prev = g
		}
		prev = 0
		for p := ls.parents; p != 0; p = x.parents.at(p).setNext {
			if pr := x.parents.at(p); pr.set != s || pr.setPrev != prev {
				t.Fatalf("parent %d is in the list of label set %d, has set %d and previous %d", p, s, pr.set, pr.setPrev)
			}
			parentOf[s]--
			prev = p
		}
	}
	if st.setChains.n != sets {
		t.Fatalf("%d label sets, %d in the hash chains", sets, st.setChains.n)
	}
	if st.pairs.live != pairs {
		t.Fatalf("the arena counts %d pairs in use, the sets have %d", st.pairs.live, pairs)
	}
	for n, offs := range st.pairs.free {
		for _, off := range offs {
			runs = append(runs, run{off, uint32(n)})
		}
	}
	slices.SortFunc(runs, func(a, b run) int { return int(a.off) - int(b.off) })
	for i, r := range runs {
		if c := r.off >> arenaBits; int(c) >= len(st.pairs.chunks) || int(r.off&(arenaChunk-1)+r.n) > len(st.pairs.chunks[c]) {
			t.Fatalf("pair run %d+%d is outside the arena", r.off, r.n)
		}
		if p := runs[max(i-1, 0)]; i > 0 && p.off>>arenaBits == r.off>>arenaBits && p.off+p.n > r.off {
			t.Fatalf("pair runs %d+%d and %d+%d overlap", runs[i-1].off, runs[i-1].n, r.off, r.n)
		}
	}

	// Groups and their items.
	groups := 0
	for g := uint32(1); g < x.groups.slots(); g++ {
		if !x.groups.inUse(g) {
			continue
		}
		groups++
		gr := x.groups.at(g)
		if gr.items == 0 {
			t.Fatalf("group %d has no items", g)
		}
		prev := uint32(0)
		for it := gr.items; it != 0; it = x.items.at(it).next {
			if in := x.items.at(it); in.group != g || in.prev != prev {
				t.Fatalf("item %d of group %d thinks it is in group %d after item %d", it, g, in.group, in.prev)
			}
			prev = it
		}
		if x.findGroup(gr.own, gr.plist) != g {
			t.Fatalf("group %d is not found by its own set and parent list", g)
		}
		if gr.own != 0 {
			ownOf[gr.own]++
			for _, p := range st.pairsOf(gr.own) {
				reach[p.t]++
				reach[st.terms.at(p.t).kt]++
			}
		}
		if gr.plist != 0 {
			for _, p := range x.plists.at(gr.plist).parents {
				if s := x.parents.at(p).set; s != 0 {
					for _, pr := range st.pairsOf(s) {
						reach[pr.t]++
						reach[st.terms.at(pr.t).kt]++
					}
				}
			}
		}
	}
	items := 0
	for it := uint32(1); it < x.items.slots(); it++ {
		if x.items.inUse(it) {
			items++
			if in := x.items.at(it); !x.groups.inUse(in.group) {
				t.Fatalf("item %d is in group %d, which does not exist", it, in.group)
			} else if found, _ := x.findItem(in.id); found != it {
				t.Fatalf("item %d is not found by its ID", it)
			}
		}
	}
	for name, c := range map[string]*chains{"item": &x.itemChains, "group": &x.groupChains, "set": &st.setChains} {
		if b := len(c.heads); c.n > b || (b > 8 && c.n < b/8) || (c.n == 0 && b != 0) {
			t.Fatalf("%s hash chains have %d entries in %d buckets", name, c.n, b)
		}
	}
	if x.itemChains.n != items {
		t.Fatalf("%d items, %d in the hash chains", items, x.itemChains.n)
	}
	if x.groupChains.n != groups {
		t.Fatalf("%d groups, %d in the hash chains", groups, x.groupChains.n)
	}
	for p := uint32(1); p < x.parents.slots(); p++ {
		if x.parents.inUse(p) && x.parents.at(p).set != 0 {
			parentOf[x.parents.at(p).set]++
		}
	}
	for s, n := range ownOf {
		if n != 0 {
			t.Fatalf("label set %d lists %d groups fewer than have it", s, n)
		}
	}
	for s, n := range parentOf {
		if n != 0 {
			t.Fatalf("label set %d lists %d parents fewer than have it", s, n)
		}
	}

	// Terms.
	valueTerms := 0
	for tm := uint32(1); tm < st.terms.slots(); tm++ {
		if !st.terms.inUse(tm) {
			continue
		}
		r := st.terms.at(tm)
		if r.reach != reach[tm] {
			t.Fatalf("term %d has reach %d, want %d", tm, r.reach, reach[tm])
		}
		if st.termStrs[tm] != (termStrs{r.k, r.v}) {
			t.Fatalf("term %d has strings %v in termStrs, %d and %d in its record", tm, st.termStrs[tm], r.k, r.v)
		}
		if r.key != st.text(r.k) {
			t.Fatalf("term %d has key %q, string %d is %q", tm, r.key, r.k, st.text(r.k))
		}
		strRefs[r.k]++
		if r.v == 0 {
			if st.strs.at(r.k).kterm != tm {
				t.Fatalf("key term %d is not the key term of string %d", tm, r.k)
			}
			if len(r.vals) == 0 && len(r.sels) == 0 {
				t.Fatalf("key term %d lists nothing", tm)
			}
			sum := 0
			for i, vt := range r.vals {
				v := st.terms.at(vt)
				if !st.terms.inUse(vt) || v.kt != tm || v.kpos != uint32(i) || v.k != r.k {
					t.Fatalf("key term %d lists value term %d, which has key term %d at %d", tm, vt, v.kt, v.kpos)
				}
				sum += v.reach
			}
			if sum != r.reach {
				t.Fatalf("key term %d has reach %d, its values %d", tm, r.reach, sum)
			}
			continue
		}
		valueTerms++
		strRefs[r.v]++
		if r.val != st.text(r.v) || st.termIDs[kv{r.key, r.val}] != tm {
			t.Fatalf("value term %d is not found by its key and value", tm)
		}
		if len(r.sets) != inSets[tm] {
			t.Fatalf("value term %d lists %d sets, %d have it", tm, len(r.sets), inSets[tm])
		}
		if len(r.sets) == 0 && len(r.sels) == 0 {
			t.Fatalf("value term %d lists nothing", tm)
		}
		if kt := st.terms.at(r.kt); !st.terms.inUse(r.kt) || kt.v != 0 || kt.vals[r.kpos] != tm {
			t.Fatalf("value term %d is not listed by its key term %d", tm, r.kt)
		}
	}
	if len(st.termIDs) != valueTerms {
		t.Fatalf("%d value terms, %d in the map", valueTerms, len(st.termIDs))
	}

	// Selectors, and the references to strings.
	for s := uint32(1); s < x.sels.slots(); s++ {
		if !x.sels.inUse(s) {
			continue
		}
		r := x.sels.at(s)
		switch r.kind {
		case kindScan:
			if !slices.Contains(x.scan, s) {
				t.Fatalf("selector %d is not on the scan list", s)
			}
		case kindKey, kindValues:
			strRefs[r.key]++
			for _, v := range r.vals {
				strRefs[v]++
			}
			for _, f := range r.filters {
				strRefs[f.key]++
				for _, v := range f.values {
					strRefs[v]++
				}
			}
			for _, tm := range r.terms {
				if !slices.Contains(st.terms.at(tm).sels, s) || st.terms.at(tm).k != r.key {
					t.Fatalf("selector %d is not listed by its term %d", s, tm)
				}
			}
		}
	}
	strs := 0
	for i := uint32(1); i < st.strs.slots(); i++ {
		if !st.strs.inUse(i) {
			continue
		}
		strs++
		if sr := st.strs.at(i); sr.refs != strRefs[i] || st.strIDs[sr.s] != i {
			t.Fatalf("string %d (%q) has %d references, counts %d", i, sr.s, sr.refs, strRefs[i])
		}
	}
	if strs != len(st.strIDs) {
		t.Fatalf("%d strings, %d in the map", strs, len(st.strIDs))
	}
}
