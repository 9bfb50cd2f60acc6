package labelindex

import (
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

// TestAgainstModel runs random operations and checks after each one that
// the reported matches are exactly those a brute-force evaluation finds.
func TestAgainstModel(t *testing.T) {
	steps := 4000
	if testing.Short() {
		steps = 500
	}
	for seed := range uint64(8) {
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
		"item map": len(x.itemIDs), "group map": len(x.groupIDs), "parent list map": len(x.plistIDs),
		"parent map": len(x.parentIDs), "selector map": len(x.selIDs), "set map": len(x.st.setIDs),
		"term map": len(x.st.termIDs), "string map": len(x.st.strIDs), "scanned selectors": len(x.scan),
	} {
		if n != 0 {
			t.Errorf("empty index still has %d %s", n, name)
		}
	}
}

// checkInvariants recomputes the index's derived data from scratch.
func checkInvariants[I, S comparable](t *testing.T, x *Index[I, S]) {
	t.Helper()
	st := &x.st
	reach := map[uint32]int{}
	sets := map[uint32]int{}
	for s := uint32(1); s < st.sets.slots(); s++ {
		ls := st.sets.at(s)
		if ls.refs == 0 {
			continue
		}
		sets[s] = 0
		for i, p := range ls.pairs {
			if i > 0 && st.text(ls.pairs[i-1].k) >= st.text(p.k) {
				t.Fatalf("label set %d is not sorted", s)
			}
			if st.terms.at(p.kt).sets[p.kpos] != s || st.terms.at(p.kvt).sets[p.kvpos] != s {
				t.Fatalf("label set %d has a wrong term position", s)
			}
		}
	}
	for g := uint32(1); g < x.groups.slots(); g++ {
		gr := x.groups.at(g)
		if gr.count == 0 {
			continue
		}
		n := uint32(0)
		for it := gr.items; it != 0; it = x.items.at(it).next {
			if x.items.at(it).group != g {
				t.Fatalf("item %d of group %d thinks it is in group %d", it, g, x.items.at(it).group)
			}
			n++
		}
		if n != gr.count {
			t.Fatalf("group %d has %d items, counts %d", g, n, gr.count)
		}
		if gr.own != 0 {
			sets[gr.own]++
			for _, p := range st.sets.at(gr.own).pairs {
				reach[p.kt]++
				reach[p.kvt]++
			}
		}
		if gr.plist != 0 {
			for _, p := range x.plists.at(gr.plist).parents {
				if s := x.parents.at(p).set; s != 0 {
					for _, pr := range st.sets.at(s).pairs {
						reach[pr.kt]++
						reach[pr.kvt]++
					}
				}
			}
		}
	}
	for p := uint32(1); p < x.parents.slots(); p++ {
		if s := x.parents.at(p).set; s != 0 {
			sets[s]++
		}
	}
	for s, n := range sets {
		if st.sets.at(s).refs != uint32(n) {
			t.Fatalf("label set %d has %d references, counts %d", s, n, st.sets.at(s).refs)
		}
	}
	for tm := uint32(1); tm < st.terms.slots(); tm++ {
		if st.terms.at(tm).id == 0 && len(st.terms.at(tm).sets) == 0 {
			continue
		}
		if st.terms.at(tm).reach != reach[tm] {
			t.Fatalf("term %d has reach %d, want %d", tm, st.terms.at(tm).reach, reach[tm])
		}
	}
}
