package labelindex

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/calicong/calico/internal/selector"
)

// The benchmarks follow the shape of Calico's calculation-graph benchmark:
// items with labels one-in-N = value-(k mod N) for N in 10, 11, 20, 30, 40,
// one of 31 marker labels in turn, and one of 100 namespace parents with two
// labels each; 62 selectors, two per marker.

// shape holds the inputs, built before anything is measured so that neither
// their time nor their memory is counted.
type shape struct {
	labels       []map[string]string // item k has labels[k % len(labels)]
	parents      [][]string          // item k has parents[k % 100]
	parentLabels []map[string]string
	sels         []*selector.Selector
}

const markers = 31

func newShape() *shape {
	sh := &shape{}
	// Labels repeat every lcm(10, 11, 20, 30, 40, 31) = 40920 items.
	for k := range 40920 {
		l := map[string]string{fmt.Sprint("marker-", k%markers): "true"}
		for _, n := range []int{10, 11, 20, 30, 40} {
			l[fmt.Sprint("one-in-", n)] = fmt.Sprint("value-", k%n)
		}
		sh.labels = append(sh.labels, l)
	}
	for j := range 100 {
		sh.parents = append(sh.parents, []string{fmt.Sprint("kns.ns-", j)})
		sh.parentLabels = append(sh.parentLabels, map[string]string{
			"pcns.projectcalico.org/name": fmt.Sprint("ns-", j),
			"pcns.team":                   fmt.Sprint("team-", j%7),
		})
	}
	for i := range markers {
		sh.sels = append(sh.sels,
			selector.MustParse(fmt.Sprintf(`has(marker-%d)`, i)),
			selector.MustParse(fmt.Sprintf(`marker-%d == "true" && one-in-10 == "value-3"`, i)))
	}
	return sh
}

func (sh *shape) addParents(x *Index[uint32, uint32]) {
	for j, l := range sh.parentLabels {
		x.UpdateParentLabels(sh.parents[j][0], l)
	}
}

func (sh *shape) addItems(x *Index[uint32, uint32], n int) {
	for k := range n {
		x.UpdateLabels(uint32(k), sh.labels[k%len(sh.labels)], sh.parents[k%len(sh.parents)])
	}
}

func (sh *shape) addSelectors(x *Index[uint32, uint32]) {
	for i, s := range sh.sels {
		x.UpdateSelector(uint32(i), s)
	}
}

// wantMatches is how many pairs match in the shape with n items: every item
// has one marker, and one in ten has one-in-10 == value-3.
func wantMatches(n int) int { return n + (n+6)/10 }

// heapAlloc returns the live heap after two collections (the second one
// frees what finalisers and the first sweep left behind).
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

const benchItems = 250_000

func BenchmarkBuild(b *testing.B) {
	sh := newShape()
	for _, order := range []string{"items-then-selectors", "selectors-then-items"} {
		b.Run(order, func(b *testing.B) {
			b.ReportAllocs()
			var elapsed, itemPhase, selPhase time.Duration
			var retained uint64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				before := heapAlloc()
				matches := 0
				b.StartTimer()
				start := time.Now()
				x := New[uint32, uint32](func(uint32, uint32) { matches++ }, nil)
				if order == "items-then-selectors" {
					sh.addParents(x)
					sh.addItems(x, benchItems)
					itemPhase += time.Since(start)
					mid := time.Now()
					sh.addSelectors(x)
					selPhase += time.Since(mid)
				} else {
					sh.addSelectors(x)
					sh.addParents(x)
					mid := time.Now()
					sh.addItems(x, benchItems)
					itemPhase += time.Since(mid)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				retained += heapAlloc() - before
				if matches != wantMatches(benchItems) {
					b.Fatalf("%d matches, want %d", matches, wantMatches(benchItems))
				}
				runtime.KeepAlive(x)
				b.StartTimer()
			}
			n := float64(b.N) * benchItems
			b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/item")
			b.ReportMetric(float64(itemPhase.Nanoseconds())/n, "ns/item-insert")
			if selPhase > 0 {
				b.ReportMetric(float64(selPhase.Microseconds())/float64(b.N*len(sh.sels)), "µs/selector-insert")
			}
			b.ReportMetric(float64(retained)/n, "B/item-retained")
		})
	}
}

// BenchmarkBuildStringIDs is items-then-selectors with item IDs such as
// "ns-12/pod-123456" instead of numbers. The ID strings belong to the caller
// and are made before measuring; the index keeps two references to each.
func BenchmarkBuildStringIDs(b *testing.B) {
	sh := newShape()
	ids := make([]string, benchItems)
	for k := range ids {
		ids[k] = fmt.Sprintf("ns-%d/pod-%d", k%100, k)
	}
	b.ReportAllocs()
	var elapsed time.Duration
	var retained uint64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		before := heapAlloc()
		b.StartTimer()
		start := time.Now()
		x := New[string, uint32](nil, nil)
		for j, l := range sh.parentLabels {
			x.UpdateParentLabels(sh.parents[j][0], l)
		}
		for k, id := range ids {
			x.UpdateLabels(id, sh.labels[k%len(sh.labels)], sh.parents[k%len(sh.parents)])
		}
		for i, s := range sh.sels {
			x.UpdateSelector(uint32(i), s)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		retained += heapAlloc() - before
		runtime.KeepAlive(x)
		b.StartTimer()
	}
	n := float64(b.N) * benchItems
	b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/item")
	b.ReportMetric(float64(retained)/n, "B/item-retained")
}

// engineShape is the shape the policy engine (internal/calc) builds from
// Calico's calculation-graph benchmark: 250,200 endpoints with eight labels
// each, the five one-in-N labels, one of 31 markers marker-00..marker-30 in
// turn, projectcalico.org/namespace = ns-(k mod 100) and
// projectcalico.org/orchestrator = k8s, and parent kns.ns-(k mod 100).
// Labels repeat every lcm(10, 11, 20, 30, 40, 31, 100) = 204,600 items, so
// almost every item has a label set of its own. The selectors are the other
// benchmarks' two per marker, on these marker names.
func engineShape() *shape {
	const period = 204_600
	sh := &shape{}
	values := map[int]string{}
	value := func(i int) string {
		if s, ok := values[i]; ok {
			return s
		}
		values[i] = fmt.Sprint("value-", i)
		return values[i]
	}
	var markerKeys, nsNames []string
	for i := range markers {
		markerKeys = append(markerKeys, fmt.Sprintf("marker-%02d", i))
	}
	for j := range 100 {
		nsNames = append(nsNames, fmt.Sprintf("ns-%03d", j))
		sh.parents = append(sh.parents, []string{"kns." + nsNames[j]})
		sh.parentLabels = append(sh.parentLabels, map[string]string{
			"pcns.projectcalico.org/name": nsNames[j],
			"pcns.team":                   fmt.Sprint("team-", j%7),
		})
	}
	for k := range period {
		l := make(map[string]string, 8)
		for _, n := range []int{10, 11, 20, 30, 40} {
			l[fmt.Sprint("one-in-", n)] = value(k % n)
		}
		l[markerKeys[k%markers]] = "true"
		l["projectcalico.org/namespace"] = nsNames[k%100]
		l["projectcalico.org/orchestrator"] = "k8s"
		sh.labels = append(sh.labels, l)
	}
	for i := range markers {
		sh.sels = append(sh.sels,
			selector.MustParse(fmt.Sprintf(`has(%s)`, markerKeys[i])),
			selector.MustParse(fmt.Sprintf(`%s == "true" && one-in-10 == "value-3"`, markerKeys[i])))
	}
	return sh
}

const engineItems = 250_200

// BenchmarkEngineShape builds the engine's shape (uint32 item IDs, parents
// first, then items, then the 62 selectors) and reports the time per item
// insert and the heap the finished index retains per item.
func BenchmarkEngineShape(b *testing.B) {
	sh := engineShape()
	b.ReportAllocs()
	var insert time.Duration
	var retained uint64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		before := heapAlloc()
		matches := 0
		b.StartTimer()
		x := New[uint32, uint32](func(uint32, uint32) { matches++ }, nil)
		sh.addParents(x)
		start := time.Now()
		sh.addItems(x, engineItems)
		insert += time.Since(start)
		sh.addSelectors(x)
		b.StopTimer()
		retained += heapAlloc() - before
		if matches != wantMatches(engineItems) {
			b.Fatalf("%d matches, want %d", matches, wantMatches(engineItems))
		}
		runtime.KeepAlive(x)
		b.StartTimer()
	}
	n := float64(b.N) * engineItems
	b.ReportMetric(float64(insert.Nanoseconds())/n, "ns/item-insert")
	b.ReportMetric(float64(retained)/n, "B/item-retained")
}

// buildShape returns an index with all items, parents and selectors.
func buildShape(sh *shape, n int) *Index[uint32, uint32] {
	x := New[uint32, uint32](nil, nil)
	sh.addParents(x)
	sh.addItems(x, n)
	sh.addSelectors(x)
	return x
}

func reportPercentiles(b *testing.B, ds []time.Duration, unit string) {
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(ds)), "mean-ns/"+unit)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns/"+unit)
	b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds()), "p99-ns/"+unit)
}

// BenchmarkLabelChange changes the labels of random items to those of
// another item: a new marker and new one-in-N values, so a handful of
// selectors stop and start matching.
func BenchmarkLabelChange(b *testing.B) {
	sh := newShape()
	x := buildShape(sh, benchItems)
	rng := rand.New(rand.NewPCG(1, 2))
	const changes = 10_000
	ds := make([]time.Duration, 0, changes)
	b.ReportAllocs()
	for b.Loop() {
		ds = ds[:0]
		for range changes {
			k := rng.IntN(benchItems)
			labels := sh.labels[(k+1+rng.IntN(100))%len(sh.labels)]
			start := time.Now()
			x.UpdateLabels(uint32(k), labels, sh.parents[k%len(sh.parents)])
			ds = append(ds, time.Since(start))
		}
	}
	reportPercentiles(b, ds, "change")
}

// BenchmarkSelectorAdd adds fresh selectors has(marker-i) && one-in-11 ==
// "value-k", each matching about 730 of the 250,000 items.
func BenchmarkSelectorAdd(b *testing.B) {
	sh := newShape()
	x := buildShape(sh, benchItems)
	var fresh []*selector.Selector
	for i := range markers {
		for k := range 11 {
			fresh = append(fresh, selector.MustParse(fmt.Sprintf(`has(marker-%d) && one-in-11 == "value-%d"`, i, k)))
		}
	}
	ds := make([]time.Duration, 0, len(fresh))
	b.ReportAllocs()
	for b.Loop() {
		ds = ds[:0]
		for j, s := range fresh {
			start := time.Now()
			x.UpdateSelector(uint32(1000+j), s)
			ds = append(ds, time.Since(start))
		}
		for j := range fresh {
			x.DeleteSelector(uint32(1000 + j))
		}
	}
	reportPercentiles(b, ds, "selector")
}

// TestShape checks the benchmark's shape at a size that runs quickly:
// every selector matches what brute-force evaluation says, before and after
// changes.
func TestShape(t *testing.T) {
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	sh := newShape()
	rec := newRecorder[uint32, uint32](t)
	x := rec.index()
	sh.addParents(x)
	sh.addItems(x, n/2)
	sh.addSelectors(x)
	for k := n / 2; k < n; k++ {
		x.UpdateLabels(uint32(k), sh.labels[k%len(sh.labels)], sh.parents[k%len(sh.parents)])
	}
	extra := selector.MustParse(`pcns.team == "team-3" && one-in-11 in {"value-1", "value-2"}`)
	x.UpdateSelector(999, extra)
	rec.reset()
	check := func(what string, labelsOf func(k int) map[string]string) {
		t.Helper()
		want := 0
		for k := range n {
			l := labelsOf(k)
			for i, s := range sh.sels {
				m := match[uint32, uint32]{uint32(i), uint32(k)}
				if s.Evaluate(l) {
					want++
				}
				if s.Evaluate(l) != rec.current[m] {
					t.Fatalf("%s: selector %s on item %d: reported %v", what, s, k, rec.current[m])
				}
			}
			if extra.Evaluate(l) {
				want++
			}
			if extra.Evaluate(l) != rec.current[match[uint32, uint32]{999, uint32(k)}] {
				t.Fatalf("%s: selector %s on item %d is wrong", what, extra, k)
			}
		}
		if len(rec.current) != want {
			t.Fatalf("%s: %d matches reported, want %d", what, len(rec.current), want)
		}
	}
	withParent := func(own map[string]string, k int) map[string]string {
		l := map[string]string{}
		for key, v := range sh.parentLabels[k%len(sh.parents)] {
			l[key] = v
		}
		for key, v := range own {
			l[key] = v
		}
		return l
	}
	check("initial", func(k int) map[string]string { return withParent(sh.labels[k%len(sh.labels)], k) })
	if len(rec.current) < wantMatches(n) {
		t.Fatalf("%d matches, want at least %d", len(rec.current), wantMatches(n))
	}

	// Shift every third item's labels and change some namespaces.
	for k := 0; k < n; k += 3 {
		x.UpdateLabels(uint32(k), sh.labels[(k+5)%len(sh.labels)], sh.parents[k%len(sh.parents)])
		rec.reset()
	}
	for j := 0; j < 100; j += 2 {
		sh.parentLabels[j] = map[string]string{"pcns.team": "team-3"}
		x.UpdateParentLabels(sh.parents[j][0], sh.parentLabels[j])
		rec.reset()
	}
	check("after changes", func(k int) map[string]string {
		if k%3 == 0 {
			return withParent(sh.labels[(k+5)%len(sh.labels)], k)
		}
		return withParent(sh.labels[k%len(sh.labels)], k)
	})
	checkInvariants(t, x)
}
