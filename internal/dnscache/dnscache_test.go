package dnscache

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func a(name, addr string, ttl time.Duration) Record {
	return Record{Name: name, Addr: netip.MustParseAddr(addr), TTL: ttl}
}

func cname(name, target string, ttl time.Duration) Record {
	return Record{Name: name, Target: target, TTL: ttl}
}

func addrs(ms []Member, set string) []string {
	var out []string
	for _, m := range ms {
		if m.Set == set {
			out = append(out, m.Addr.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func newCache(t *testing.T, sets map[string][]string) *Cache {
	t.Helper()
	c := New(10 * time.Second)
	for id, ds := range sets {
		if _, err := c.SetDomains(id, ds, t0); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestExactAndWildcard(t *testing.T) {
	c := newCache(t, map[string][]string{"exact": {"allowed.example.test"}, "wild": {"*.example.test"}})
	got := c.Observe([]Record{a("Allowed.Example.Test.", "192.0.2.10", time.Minute)}, t0)
	if e, w := addrs(got, "exact"), addrs(got, "wild"); !slices.Equal(e, []string{"192.0.2.10"}) || !slices.Equal(w, []string{"192.0.2.10"}) {
		t.Errorf("allowed.example.test: exact %v, wild %v", e, w)
	}
	if got[0].Expires != t0.Add(70*time.Second) {
		t.Errorf("expires %v, want TTL + grace", got[0].Expires)
	}
	got = c.Observe([]Record{a("blocked.example.test", "192.0.2.20", time.Minute), a("example.test", "192.0.2.30", time.Minute)}, t0)
	if e, w := addrs(got, "exact"), addrs(got, "wild"); len(e) != 0 || !slices.Equal(w, []string{"192.0.2.20"}) {
		t.Errorf("blocked and the bare domain: exact %v, wild %v; want only blocked in the wildcard's set", e, w)
	}
}

func TestCNAMEChains(t *testing.T) {
	for _, order := range []string{"cname first", "address first"} {
		c := newCache(t, map[string][]string{"s": {"www.example.test"}})
		recs := []Record{cname("www.example.test", "edge.cdn.test", 5*time.Minute), cname("edge.cdn.test", "node7.cdn.test", time.Minute),
			a("node7.cdn.test", "198.51.100.7", 10*time.Minute)}
		if order == "address first" {
			slices.Reverse(recs)
		}
		got := c.Observe(recs, t0)
		if s := addrs(got, "s"); !slices.Equal(s, []string{"198.51.100.7"}) {
			t.Errorf("%s: %v", order, s)
		}
		// The chain lives as long as its shortest link.
		for _, m := range got {
			if m.Expires.After(t0.Add(70 * time.Second)) {
				t.Errorf("%s: expires %v, after the one-minute link (+grace)", order, m.Expires)
			}
		}
		if n := c.Members("s", t0.Add(2*time.Minute)); len(n) != 0 {
			t.Errorf("%s: after the middle link expired: %v", order, n)
		}
	}
	// A loop ends.
	c := newCache(t, map[string][]string{"s": {"loop.test"}})
	c.Observe([]Record{cname("loop.test", "pool.test", time.Minute), cname("pool.test", "loop.test", time.Minute)}, t0)
	if got := c.Observe([]Record{a("pool.test", "192.0.2.1", time.Minute)}, t0); !slices.Equal(addrs(got, "s"), []string{"192.0.2.1"}) {
		t.Errorf("through a loop: %v", got)
	}
}

func TestSetsLearnAndForget(t *testing.T) {
	c := New(0)
	c.Observe([]Record{a("api.example.test", "192.0.2.1", time.Minute), a("api.example.test", "2001:db8::1", time.Minute)}, t0)
	// A set defined after the answer starts with what is known.
	ms, err := c.SetDomains("late", []string{"*.EXAMPLE.test"}, t0)
	if err != nil || !slices.Equal(addrs(ms, "late"), []string{"192.0.2.1", "2001:db8::1"}) {
		t.Fatalf("late set: %v %v", ms, err)
	}
	if _, err := c.SetDomains("bad", []string{"a*.test"}, t0); err == nil {
		t.Error("a bad wildcard was accepted")
	}
	// The address changes: the new one joins, the old one runs out.
	got := c.Observe([]Record{a("api.example.test", "192.0.2.2", time.Minute)}, t0.Add(30*time.Second))
	if !slices.Equal(addrs(got, "late"), []string{"192.0.2.2"}) {
		t.Errorf("new address: %v", got)
	}
	if m := addrs(c.Members("late", t0.Add(80*time.Second)), "late"); !slices.Equal(m, []string{"192.0.2.2"}) {
		t.Errorf("after the first answer's TTL: %v", m)
	}
	if n := c.Expire(t0.Add(2 * time.Minute)); n != 0 {
		t.Errorf("%d names left after every TTL", n)
	}
	c.RemoveSet("late")
	if got := c.Observe([]Record{a("api.example.test", "192.0.2.3", time.Minute)}, t0); len(got) != 0 {
		t.Errorf("a removed set still learns: %v", got)
	}
}

// BenchmarkObserve: one answer (a CNAME and two addresses) against 100
// domain sets, 10 of them wildcards.
func BenchmarkObserve(b *testing.B) {
	c := New(10 * time.Second)
	for i := range 100 {
		d := fmt.Sprintf("svc%d.example.test", i)
		if i%10 == 0 {
			d = fmt.Sprintf("*.zone%d.test", i)
		}
		if _, err := c.SetDomains(fmt.Sprint(i), []string{d}, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("svc%d.example.test", i%100)
		c.Observe([]Record{cname(name, "lb.example.test", time.Minute), a("lb.example.test", "192.0.2.1", time.Minute),
			a("lb.example.test", "192.0.2.2", time.Minute)}, t0)
	}
}

// BenchmarkMemory: the heap for 100,000 names, each with one address,
// as the issue asks; reported per name.
func BenchmarkMemory(b *testing.B) {
	const names = 100_000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := New(10 * time.Second)
		if _, err := c.SetDomains("s", []string{"*.example.test"}, t0); err != nil {
			b.Fatal(err)
		}
		for i := range names {
			addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			c.Observe([]Record{{Name: fmt.Sprintf("host-%d.example.test", i), Addr: addr, TTL: time.Minute}}, t0)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-per-100k-names")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/names, "B/name")
		runtime.KeepAlive(c)
	}
}
