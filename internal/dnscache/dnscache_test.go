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

// of lists the addresses the answers give name.
func of(as []Answer, name string) []string {
	var out []string
	for _, a := range as {
		if a.Name == name {
			out = append(out, a.Addr.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestAnswersInNormalForm(t *testing.T) {
	c := New(10 * time.Second)
	got := c.Observe([]Record{a("Allowed.Example.Test.", "192.0.2.10", time.Minute), a("allowed.example.test", "2001:db8::a", time.Minute)}, t0)
	if s := of(got, "allowed.example.test"); !slices.Equal(s, []string{"192.0.2.10", "2001:db8::a"}) {
		t.Errorf("answers %v", got)
	}
	if got[0].Expires != t0.Add(70*time.Second) {
		t.Errorf("expires %v, want TTL + grace", got[0].Expires)
	}
	// A shorter TTL later does not shorten what is known.
	got = c.Observe([]Record{a("allowed.example.test", "192.0.2.10", time.Second)}, t0)
	if got[0].Expires != t0.Add(70*time.Second) {
		t.Errorf("expires %v after a shorter answer, want the longer one kept", got[0].Expires)
	}
}

func TestCNAMEChains(t *testing.T) {
	for _, order := range []string{"cname first", "address first"} {
		c := New(10 * time.Second)
		recs := []Record{cname("www.example.test", "edge.cdn.test", 5*time.Minute), cname("edge.cdn.test", "node7.cdn.test", time.Minute),
			a("node7.cdn.test", "198.51.100.7", 10*time.Minute)}
		if order == "address first" {
			slices.Reverse(recs)
		}
		got := c.Observe(recs, t0)
		for _, n := range []string{"www.example.test", "edge.cdn.test", "node7.cdn.test"} {
			if s := of(got, n); !slices.Equal(s, []string{"198.51.100.7"}) {
				t.Errorf("%s: %s gives %v", order, n, s)
			}
		}
		// The chain lives as long as its shortest link.
		for _, m := range got {
			if m.Name == "www.example.test" && m.Expires.After(t0.Add(70*time.Second)) {
				t.Errorf("%s: expires %v, after the one-minute link (+grace)", order, m.Expires)
			}
		}
		if n := c.Resolve("www.example.test", t0.Add(2*time.Minute)); len(n) != 0 {
			t.Errorf("%s: after the middle link expired: %v", order, n)
		}
		if n := c.Resolve("WWW.example.test.", t0); len(n) != 1 {
			t.Errorf("%s: resolve: %v", order, n)
		}
	}
	// A loop ends.
	c := New(0)
	c.Observe([]Record{cname("loop.test", "pool.test", time.Minute), cname("pool.test", "loop.test", time.Minute)}, t0)
	if got := c.Observe([]Record{a("pool.test", "192.0.2.1", time.Minute)}, t0); !slices.Equal(of(got, "loop.test"), []string{"192.0.2.1"}) {
		t.Errorf("through a loop: %v", got)
	}
}

func TestAddressChangesAndExpiry(t *testing.T) {
	c := New(0)
	c.Observe([]Record{a("api.example.test", "192.0.2.1", time.Minute)}, t0)
	// The address changes: the new one is answered, the old one runs out.
	got := c.Observe([]Record{a("api.example.test", "192.0.2.2", time.Minute)}, t0.Add(30*time.Second))
	if !slices.Equal(of(got, "api.example.test"), []string{"192.0.2.2"}) {
		t.Errorf("new address: %v", got)
	}
	var live []string
	for _, r := range c.Resolve("api.example.test", t0.Add(80*time.Second)) {
		live = append(live, r.Addr.String())
	}
	if !slices.Equal(live, []string{"192.0.2.2"}) {
		t.Errorf("after the first answer's TTL: %v", live)
	}
	if n := c.Expire(t0.Add(2 * time.Minute)); n != 0 {
		t.Errorf("%d names left after every TTL", n)
	}
}

// BenchmarkObserve: one answer, a CNAME and two addresses.
func BenchmarkObserve(b *testing.B) {
	c := New(10 * time.Second)
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
