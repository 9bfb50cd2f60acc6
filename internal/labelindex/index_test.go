package labelindex

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/selector"
)

// events records callbacks as "+sel item" and "-sel item".
type events struct{ list []string }

func (e *events) index() *Index[string, string] {
	return New(
		func(s, i string) { e.list = append(e.list, "+"+s+" "+i) },
		func(s, i string) { e.list = append(e.list, "-"+s+" "+i) },
	)
}

// take returns the events since the last call, sorted.
func (e *events) take() []string {
	out := e.list
	e.list = nil
	slices.Sort(out)
	return out
}

// expect checks the events since the last check.
func (e *events) expect(t *testing.T, what string, want ...string) {
	t.Helper()
	got := e.take()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: got events %q, want %q", what, got, want)
	}
}

type L = map[string]string

func TestInheritance(t *testing.T) {
	var e events
	x := e.index()
	x.UpdateSelector("web", selector.MustParse(`app == "web"`))
	x.UpdateSelector("team-a", selector.MustParse(`pcns.team == "a"`))
	x.UpdateSelector("has-team", selector.MustParse(`has(pcns.team)`))

	// A parent that does not exist yet gives nothing.
	x.UpdateLabels("pod1", L{"app": "web"}, []string{"kns.ns1"})
	e.expect(t, "item with a missing parent", "+web pod1")
	if l, _ := x.Labels("pod1"); !equalLabels(l, L{"app": "web"}) {
		t.Errorf("labels with a missing parent: %v", l)
	}

	// When it appears, its labels are inherited, including by has().
	x.UpdateParentLabels("kns.ns1", L{"pcns.team": "a", "app": "db"})
	e.expect(t, "parent appears", "+team-a pod1", "+has-team pod1")
	if l, _ := x.Labels("pod1"); !equalLabels(l, L{"app": "web", "pcns.team": "a"}) {
		t.Errorf("own labels must win over the parent's: %v", l)
	}

	// The item's own label wins: app stays web although the parent says db.
	x.UpdateSelector("db", selector.MustParse(`app == "db"`))
	e.expect(t, "own label wins")

	// An item without that label of its own gets the parent's.
	x.UpdateLabels("pod2", nil, []string{"kns.ns1"})
	e.expect(t, "item inherits", "+db pod2", "+team-a pod2", "+has-team pod2")

	// The parent's labels change: only its items are re-evaluated.
	x.UpdateLabels("other", L{"pcns.team": "a"}, []string{"kns.ns2"})
	e.expect(t, "item with its own team label", "+team-a other", "+has-team other")
	x.UpdateParentLabels("kns.ns1", L{"pcns.team": "b", "app": "db"})
	e.expect(t, "parent changes", "-team-a pod1", "-team-a pod2")

	// Earlier parents win over later ones.
	x.UpdateParentLabels("ksa.ns1.sa", L{"pcns.team": "a", "app": "sa"})
	x.UpdateLabels("pod3", nil, []string{"ksa.ns1.sa", "kns.ns1"})
	e.expect(t, "first parent wins", "+team-a pod3", "+has-team pod3")
	x.UpdateLabels("pod3", nil, []string{"kns.ns1", "ksa.ns1.sa"})
	e.expect(t, "parents swapped", "-team-a pod3", "+db pod3")
	if l, _ := x.Labels("pod3"); !equalLabels(l, L{"pcns.team": "b", "app": "db"}) {
		t.Errorf("labels with swapped parents: %v", l)
	}

	// Deleting a parent takes its labels away; items keep listing it.
	x.DeleteParentLabels("kns.ns1")
	e.expect(t, "parent deleted",
		"-db pod2", "-has-team pod1", "-has-team pod2",
		"-db pod3", "+team-a pod3") // pod3 now gets everything from ksa.ns1.sa
	x.UpdateParentLabels("kns.ns1", L{"pcns.team": "a"})
	e.expect(t, "parent back", "+team-a pod1", "+team-a pod2", "+has-team pod1", "+has-team pod2")

	// A repeated parent counts once.
	x.UpdateLabels("pod4", nil, []string{"kns.ns1", "kns.ns1"})
	e.expect(t, "repeated parent", "+team-a pod4", "+has-team pod4")
}

func equalLabels(l selector.Labels, want map[string]string) bool {
	m, ok := l.(selector.Map)
	if !ok || len(m) != len(want) {
		return false
	}
	for k, v := range want {
		if got, ok := m.Get(k); !ok || got != v {
			return false
		}
	}
	return true
}

func TestNoOpUpdatesReportNothing(t *testing.T) {
	var e events
	x := e.index()
	x.UpdateParentLabels("p", L{"ns": "a"})
	x.UpdateSelector("s1", selector.MustParse(`app == "web" && ns == "a"`))
	x.UpdateSelector("s2", selector.MustParse(`!has(app)`))
	x.UpdateLabels("i1", L{"app": "web"}, []string{"p"})
	x.UpdateLabels("i2", nil, nil)
	e.expect(t, "setup", "+s1 i1", "+s2 i2")
	evals := x.evals

	x.UpdateLabels("i1", L{"app": "web"}, []string{"p"})
	x.UpdateLabels("i1", L{"app": "web"}, []string{"p", "p"})
	x.UpdateLabels("i2", L{}, []string{})
	x.UpdateParentLabels("p", L{"ns": "a"})
	x.UpdateSelector("s1", selector.MustParse(`(app=="web")&&(ns=="a")`))
	x.DeleteParentLabels("absent")
	x.DeleteLabels("absent")
	x.DeleteSelector("absent")
	e.expect(t, "no-op updates")
	if x.evals != evals {
		t.Errorf("no-op updates evaluated %d selectors", x.evals-evals)
	}

	// Different labels that make no difference to any selector report
	// nothing either.
	x.UpdateLabels("i1", L{"app": "web", "x": "1"}, []string{"p"})
	x.UpdateParentLabels("p", L{"ns": "a", "y": "2"})
	e.expect(t, "irrelevant changes")
}

func TestSelectorReplace(t *testing.T) {
	var e events
	x := e.index()
	for i, app := range []string{"web", "db", "cache"} {
		x.UpdateLabels(fmt.Sprint("pod", i), L{"app": app}, nil)
	}
	x.UpdateSelector("s", selector.MustParse(`app in {"web", "db"}`))
	e.expect(t, "add", "+s pod0", "+s pod1")
	x.UpdateSelector("s", selector.MustParse(`app in {"db", "cache"}`))
	e.expect(t, "replace", "-s pod0", "+s pod2")
	x.UpdateSelector("s", selector.MustParse(`app != "db"`))
	e.expect(t, "replace with a scanning selector", "-s pod1", "+s pod0")
	x.UpdateSelector("s", selector.MustParse(`app == "x" && app == "y"`))
	e.expect(t, "replace with an impossible selector", "-s pod0", "-s pod2")
	x.UpdateSelector("s", selector.MustParse(`all()`))
	e.expect(t, "replace with all()", "+s pod0", "+s pod1", "+s pod2")
	x.DeleteSelector("s")
	e.expect(t, "delete", "-s pod0", "-s pod1", "-s pod2")
	checkInvariants(t, x)
}

func TestItemReplace(t *testing.T) {
	var e events
	x := e.index()
	x.UpdateSelector("web", selector.MustParse(`app == "web"`))
	x.UpdateSelector("not-web", selector.MustParse(`app != "web"`))
	x.UpdateSelector("prod", selector.MustParse(`has(prod)`))
	x.UpdateLabels("pod", L{"app": "web"}, nil)
	e.expect(t, "add", "+web pod")
	x.UpdateLabels("pod", L{"app": "db", "prod": ""}, nil)
	e.expect(t, "replace", "-web pod", "+not-web pod", "+prod pod")
	x.UpdateLabels("pod", nil, nil)
	e.expect(t, "replace with no labels", "-prod pod")
	x.DeleteLabels("pod")
	e.expect(t, "delete", "-not-web pod")
	for _, s := range []string{"web", "not-web", "prod"} {
		x.DeleteSelector(s)
	}
	checkEmpty(t, x)
}

func TestNotHasMatchesUnlabelledItems(t *testing.T) {
	var e events
	x := e.index()
	x.UpdateLabels("bare", nil, nil)
	x.UpdateLabels("empty", L{}, []string{"nothing-here"})
	x.UpdateLabels("labelled", L{"a": "1"}, nil)
	x.UpdateSelector("s", selector.MustParse(`!has(a)`))
	e.expect(t, "!has(a)", "+s bare", "+s empty")
	x.UpdateSelector("t", selector.MustParse(`!has(a) && !has(b)`))
	e.expect(t, "!has(a) && !has(b)", "+t bare", "+t empty")
	x.UpdateParentLabels("nothing-here", L{"b": "2"})
	e.expect(t, "parent gains b", "-t empty")
}

// TestCandidatePruning checks that changes evaluate only the selectors and
// items that could match, which is what makes the index fast.
func TestCandidatePruning(t *testing.T) {
	x := New[int, int](nil, nil)
	for i := range 1000 {
		x.UpdateLabels(i, L{"app": fmt.Sprint("app-", i%100), "tier": fmt.Sprint("tier-", i%3)},
			[]string{fmt.Sprint("ns-", i%10)})
	}
	for i := range 10 {
		x.UpdateParentLabels(fmt.Sprint("ns-", i), L{"pcns.name": fmt.Sprint("ns-", i)})
	}
	for i := range 100 {
		x.UpdateSelector(i, selector.MustParse(fmt.Sprintf(`app == "app-%d"`, i)))
	}

	// 10 items have app-7; with the namespace they fall into 10 groups.
	before := x.evals
	x.UpdateSelector(1000, selector.MustParse(`app == "app-7" && tier != "tier-0"`))
	if n := x.evals - before; n > 10 {
		t.Errorf("adding a selector for 10 items evaluated it %d times", n)
	}
	// The index picks the most selective label: pcns.name reaches 100
	// groups, app only 10.
	before = x.evals
	x.UpdateSelector(1001, selector.MustParse(`has(pcns.name) && app in {"app-3", "app-4"}`))
	if n := x.evals - before; n > 20 {
		t.Errorf("adding a selector for 20 items evaluated it %d times", n)
	}
	// Inherited labels are found through the parent.
	before = x.evals
	x.UpdateSelector(1002, selector.MustParse(`pcns.name == "ns-3"`))
	if n := x.evals - before; n > 100 {
		t.Errorf("adding a selector for one namespace evaluated it %d times", n)
	}
	if n := count(x.Matches(1002)); n != 100 {
		t.Errorf("selector for one namespace matches %d items, want 100", n)
	}

	// Changing a namespace's labels re-evaluates its 100 items (in 30
	// groups), not the other 900.
	before = x.evals
	x.UpdateParentLabels("ns-3", L{"pcns.name": "ns-3", "extra": "1"})
	if n := x.evals - before; n > 30*2*4 {
		t.Errorf("changing one namespace evaluated %d selectors", n)
	}

	// Changing an item evaluates the selectors for its old and new app
	// only, not all 103.
	before = x.evals
	x.UpdateLabels(5, L{"app": "app-6", "tier": "tier-2"}, []string{"ns-5"})
	if n := x.evals - before; n > 10 {
		t.Errorf("changing an item evaluated %d selectors", n)
	}
}

func count[T any](seq func(func(T) bool)) int {
	n := 0
	for range seq {
		n++
	}
	return n
}

func TestQueries(t *testing.T) {
	x := New[string, string](nil, nil)
	x.UpdateParentLabels("ns", L{"pcns.name": "ns"})
	x.UpdateLabels("a", L{"app": "web"}, []string{"ns"})
	x.UpdateLabels("b", L{"app": "db"}, []string{"ns"})
	x.UpdateSelector("web", selector.MustParse(`app == "web"`))
	x.UpdateSelector("ns", selector.MustParse(`pcns.name == "ns"`))
	x.UpdateSelector("all", selector.MustParse(`all()`))

	sorted := func(seq func(func(string) bool)) string {
		var out []string
		for s := range seq {
			out = append(out, s)
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	if got := sorted(x.Matches("ns")); got != "a,b" {
		t.Errorf("Matches(ns) = %s", got)
	}
	if got := sorted(x.Matches("nope")); got != "" {
		t.Errorf("Matches of an unknown selector = %s", got)
	}
	if got := sorted(x.SelectorsMatching("a")); got != "all,ns,web" {
		t.Errorf("SelectorsMatching(a) = %s", got)
	}
	if got := sorted(x.SelectorsMatching("nope")); got != "" {
		t.Errorf("SelectorsMatching of an unknown item = %s", got)
	}
	// Stopping early, and nesting queries.
	for range x.Matches("all") {
		for s := range x.SelectorsMatching("b") {
			if got := sorted(x.Matches(s)); got == "" {
				t.Errorf("nested Matches(%s) is empty", s)
			}
		}
		break
	}
	if items, sels := x.Len(); items != 2 || sels != 3 {
		t.Errorf("Len() = %d, %d", items, sels)
	}
}

// TestSteadyStateUpdatesDoNotAllocate: moving an item between label sets
// that exist already, and updates that change nothing, allocate nothing.
func TestSteadyStateUpdatesDoNotAllocate(t *testing.T) {
	x := New[int, int](func(int, int) {}, func(int, int) {})
	x.UpdateParentLabels("ns", L{"pcns.name": "ns"})
	a, b := L{"app": "web", "tier": "1"}, L{"app": "db", "tier": "2"}
	x.UpdateLabels(1, a, []string{"ns"})
	x.UpdateLabels(2, b, []string{"ns"})
	x.UpdateSelector(1, selector.MustParse(`app == "web"`))
	x.UpdateSelector(2, selector.MustParse(`has(tier) && pcns.name == "ns"`))
	x.UpdateSelector(3, selector.MustParse(`app != "web"`))
	parents := []string{"ns"}
	x.UpdateLabels(3, a, parents)
	flip := 0
	allocs := testing.AllocsPerRun(100, func() {
		flip++
		if flip%2 == 0 {
			x.UpdateLabels(3, a, parents)
		} else {
			x.UpdateLabels(3, b, parents)
		}
		x.UpdateLabels(3, b, parents) // no change half of the time
	})
	if allocs != 0 {
		t.Errorf("moving an item between existing label sets allocates %.1f times", allocs)
	}
}

// TestPairArena grows the pair arena over many chunks, with sets longer than
// the free lists handle and longer than a chunk, then deletes most of it so
// that the arena is compacted and the hash chains shrink, and churns it:
// matches stay right and the derived data consistent throughout.
func TestPairArena(t *testing.T) {
	rec := newRecorder[int, int](t)
	x := rec.index()
	sels := []*selector.Selector{
		selector.MustParse(`has(k3)`),
		selector.MustParse(`k1 == "v1-1" || k70 == "v70-2"`),
		selector.MustParse(`k5 in {"v5-0", "v5-3"} && !has(k80)`),
		selector.MustParse(`k9000 == "v9000-0"`),
	}
	for i, s := range sels {
		x.UpdateSelector(i, s)
	}
	labels := map[int]map[string]string{}
	labelsFor := func(i, round int) map[string]string {
		n := 1 + (i*7+round)%90 // 1 to 90 labels: some runs too long for the free lists
		if i%1000 == 999 {
			n = arenaChunk + 100 // longer than a chunk
		}
		l := make(map[string]string, n)
		l["id"] = fmt.Sprint(i % 1500) // so that most items have sets of their own
		for k := range n - 1 {
			l[fmt.Sprint("k", k)] = fmt.Sprintf("v%d-%d", k, (i+k+round)%4)
		}
		return l
	}
	set := func(i int, l map[string]string) {
		x.UpdateLabels(i, l, nil)
		rec.reset()
		if l == nil {
			x.DeleteLabels(i)
			rec.reset()
			delete(labels, i)
			return
		}
		labels[i] = l
	}
	check := func(what string) {
		t.Helper()
		checkInvariants(t, x)
		want := 0
		for i, l := range labels {
			for s, sel := range sels {
				m := sel.Evaluate(l)
				if m {
					want++
				}
				if rec.current[match[int, int]{s, i}] != m {
					t.Fatalf("%s: selector %s on item %d: reported %v", what, sel, i, !m)
				}
			}
		}
		if len(rec.current) != want {
			t.Fatalf("%s: %d matches reported, want %d", what, len(rec.current), want)
		}
	}

	const items = 3000
	for i := range items {
		set(i, labelsFor(i, 0))
	}
	check("built")
	chunks, buckets := len(x.st.pairs.chunks), len(x.st.setChains.heads)
	if chunks < 10 {
		t.Fatalf("only %d arena chunks: the test does not exercise chunking", chunks)
	}

	for i := range items {
		if i%10 != 0 {
			set(i, nil)
		}
	}
	check("after deleting 90%")
	if n := len(x.st.pairs.chunks); n >= chunks/2 {
		t.Errorf("the arena still has %d of %d chunks after 90%% of the sets went", n, chunks)
	}
	if x.st.pairs.idle > x.st.pairs.live+2*arenaChunk {
		t.Errorf("the arena keeps %d idle pairs for %d in use", x.st.pairs.idle, x.st.pairs.live)
	}
	if n := len(x.st.setChains.heads); n >= buckets/4 {
		t.Errorf("the set hash chains still have %d of %d buckets", n, buckets)
	}

	for round := 1; round <= 3; round++ {
		for i := range items {
			if (i+round)%3 == 0 {
				set(i, labelsFor(i, round))
			} else if i%(round+4) == 0 {
				set(i, nil)
			}
		}
		check(fmt.Sprint("churn round ", round))
	}

	for i := range items {
		set(i, nil)
	}
	for i := range sels {
		x.DeleteSelector(i)
	}
	checkEmpty(t, x)
}

// TestArena checks the pair arena's bookkeeping directly: reuse of freed
// runs, runs that do not fit the rest of a chunk, and runs with a chunk of
// their own, including one freed while it is the last chunk.
func TestArena(t *testing.T) {
	var a arena
	x := a.alloc(7)
	y := a.alloc(7)
	if x == y || a.live != 14 || a.idle != 0 {
		t.Fatalf("two runs: offsets %d, %d, live %d, idle %d", x, y, a.live, a.idle)
	}
	a.get(x, 7)[6] = pair{t: 1, pos: 2}
	a.release(x, 7)
	if z := a.alloc(7); z != x || a.get(z, 7)[6] != (pair{}) {
		t.Fatalf("a freed run of the same length is not reused, zeroed: got %d, want %d", z, x)
	}
	if a.live != 14 || a.idle != 0 {
		t.Fatalf("after reuse: live %d, idle %d", a.live, a.idle)
	}

	big := a.alloc(arenaChunk + 1)
	if big>>arenaBits != 1 || len(a.chunks[1]) != arenaChunk+1 {
		t.Fatalf("a run longer than a chunk is at %d, in a chunk of %d", big, len(a.chunks[big>>arenaBits]))
	}
	a.release(big, arenaChunk+1)
	if a.chunks[1] != nil || a.live != 14 || a.idle != 0 {
		t.Fatalf("a freed long run keeps its chunk, or counts: live %d, idle %d", a.live, a.idle)
	}
	small := a.alloc(3)
	if small>>arenaBits != 2 || cap(a.chunks[2]) != arenaChunk {
		t.Fatalf("after a freed long run, a short one is at %d in a chunk of capacity %d", small, cap(a.chunks[small>>arenaBits]))
	}

	// Fill the chunk: a run that does not fit in the rest opens the next
	// chunk and leaves the rest idle.
	for range (arenaChunk - 3) / 100 {
		a.alloc(100)
	}
	rest := arenaChunk - len(a.chunks[2])
	if next := a.alloc(uint32(rest + 1)); next>>arenaBits != 3 || a.idle != rest {
		t.Fatalf("a run too long for the rest of chunk 2 is at %d; %d pairs idle, want %d", next, a.idle, rest)
	}
	if a.wasteful() {
		t.Fatalf("wasteful with %d idle and %d live pairs", a.idle, a.live)
	}
}
