package flowlogs

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/calicong/calico/internal/node/flowlogs/event"
)

const liveConns = 100_000

// benchCluster is a node with 100 local pods talking to 2,000 remote
// ones, each pair over 50 source ports: 100,000 connections.
func benchCluster() (fakeEndpoints, []event.Tuple) {
	eps := fakeEndpoints{}
	var local, remote []netip.Addr
	for i := range 100 {
		a := netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 1)})
		eps[a] = Endpoint{Type: "wep", Name: fmt.Sprintf("client-6f7d-%05d", i), AggrName: "client-6f7d-*", Namespace: "load",
			Labels: map[string]string{"app": "client", "pod-template-hash": "6f7d"}, Local: true}
		local = append(local, a)
	}
	for i := range 2000 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(2 + i/250), byte(i%250 + 1)})
		eps[a] = Endpoint{Type: "wep", Name: fmt.Sprintf("server-5c4b-%05d", i), AggrName: "server-5c4b-*", Namespace: "load",
			Labels: map[string]string{"app": "server"}}
		remote = append(remote, a)
	}
	flows := make([]event.Tuple, 0, liveConns)
	for i := range liveConns {
		flows = append(flows, tcp(local[i%100], uint16(20000+i/2000), remote[i%2000], 8080))
	}
	return eps, flows
}

func benchConfig() Config {
	cfg := fullConfig()
	cfg.AggregationAllowed, cfg.AggregationDenied = 2, 1
	return cfg
}

func populate(b *testing.B, cfg Config) (*Collector, []event.Tuple) {
	eps, flows := benchCluster()
	c, err := New(cfg, Deps{Endpoints: eps, Rules: rules()})
	if err != nil {
		b.Fatal(err)
	}
	for i, f := range flows {
		c.OnVerdict(verdict("AE0|pe-frontend", f, 60, t0))
		c.OnConn(ctEvent(event.ConnStarted, uint32(i+1), f, 1, 60, 0, 0))
	}
	return c, flows
}

// BenchmarkLiveConnectionMemory reports the collector's memory per live
// connection (its state and map slots, after a flush has sized its
// buffers).
func BenchmarkLiveConnectionMemory(b *testing.B) {
	for range b.N {
		var before, after runtime.MemStats
		eps, flows := benchCluster()
		runtime.GC()
		runtime.ReadMemStats(&before)
		c, err := New(benchConfig(), Deps{Endpoints: eps, Rules: rules()})
		if err != nil {
			b.Fatal(err)
		}
		for i, f := range flows {
			c.OnVerdict(verdict("AE0|pe-frontend", f, 60, t0))
			c.OnConn(ctEvent(event.ConnStarted, uint32(i+1), f, 1, 60, 0, 0))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/liveConns, "B/conn")
		c.Flush(t0.Add(time.Minute))
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/liveConns, "B/conn-after-flush")
		runtime.KeepAlive(c)
	}
}

// BenchmarkOnConnCounters is one conntrack reading of a live connection
// among 100,000.
func BenchmarkOnConnCounters(b *testing.B) {
	c, flows := populate(b, benchConfig())
	b.ResetTimer()
	for i := range b.N {
		f := flows[i%liveConns]
		c.OnConn(ctEvent(event.ConnCounters, uint32(i%liveConns+1), f, uint64(i), uint64(i)*100, uint64(i), uint64(i)*100))
	}
}

// BenchmarkOnVerdict is one NFLOG report for a flow among 100,000 (a
// denied flow's retry).
func BenchmarkOnVerdict(b *testing.B) {
	c, flows := populate(b, benchConfig())
	b.ResetTimer()
	for i := range b.N {
		c.OnVerdict(verdict("DI0|pi-deny-db", flows[i%liveConns], 60, t0))
	}
}

// BenchmarkOnVerdictNewFlows is the first packet of new connections: an
// egress and an ingress verdict and conntrack's start, then the end.
func BenchmarkOnVerdictNewFlows(b *testing.B) {
	c, _ := populate(b, benchConfig())
	b.ResetTimer()
	for i := range b.N {
		f := tcp(netip.AddrFrom4([4]byte{10, 0, 1, 1}), uint16(i), netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 443)
		c.OnVerdict(verdict("PI0|pi-sec", f, 60, t0))
		c.OnVerdict(verdict("AE0|pe-frontend", f, 60, t0))
		c.OnConn(ctEvent(event.ConnStarted, uint32(i), f, 1, 60, 0, 0))
		c.OnConn(ctEvent(event.ConnEnded, uint32(i), f, 5, 600, 4, 800))
	}
}

// BenchmarkFlush is a flush of 100,000 live connections, each read by
// the dump just before (not timed), at aggregation level 2 (Calico's
// default for allowed flows) and at level 0 (a record per connection).
func BenchmarkFlush(b *testing.B) {
	for _, level := range []int{2, 0} {
		b.Run(fmt.Sprintf("level%d", level), func(b *testing.B) {
			cfg := benchConfig()
			cfg.AggregationAllowed = level
			c, flows := populate(b, cfg)
			now := t0
			var recs int
			for i := range b.N {
				b.StopTimer()
				for j, f := range flows {
					n := uint64(i + 2)
					c.OnConn(ctEvent(event.ConnCounters, uint32(j+1), f, n, n*100, n, n*200))
				}
				now = now.Add(time.Minute)
				b.StartTimer()
				recs = len(c.Flush(now))
			}
			b.ReportMetric(float64(recs), "records")
		})
	}
}

// TestConcurrentUse runs the readers against flushes (with -race).
func TestConcurrentUse(t *testing.T) {
	eps, flows := benchCluster()
	flows = flows[:2000]
	c, err := New(benchConfig(), Deps{Endpoints: eps, Rules: rules()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := flows[i%len(flows)]
			c.OnVerdict(verdict("AE0|pe-frontend", f, 60, t0))
			c.OnVerdict(verdict("DE-1|no profile", tcp(f.Src, f.SrcPort, f.Dst, 9), 60, t0))
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := flows[i%len(flows)]
			kind := event.ConnCounters
			if i%7 == 0 {
				kind = event.ConnEnded
			}
			c.OnConn(ctEvent(kind, uint32(i%len(flows)), f, uint64(i), uint64(i), 0, 0))
		}
	}()
	for i := range 20 {
		c.Flush(t0.Add(time.Duration(i) * time.Second))
	}
	close(stop)
	wg.Wait()
}
