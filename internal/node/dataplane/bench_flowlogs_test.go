package dataplane

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/node/flowlogs"
	"github.com/calicong/calico/internal/node/flowlogs/conntrack"
	"github.com/calicong/calico/internal/node/flowlogs/lookup"
	"github.com/calicong/calico/internal/node/flowlogs/nflog"
	"github.com/calicong/calico/internal/node/flowlogs/runner"
)

// crrRate counts connect/request/response/close cycles per second for d.
func crrRate(tb testing.TB, ns, addr string, d time.Duration) (rate float64, n int) {
	err := probe.InNamespace(ns, func() error {
		buf := []byte{1}
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return err
			}
			if _, err := c.Write(buf); err != nil {
				return err
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				return err
			}
			c.Close()
			n++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return float64(n) / d.Seconds(), n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// collectFlowLogs runs flow-log collection in the test node's network
// namespace (conntrack and NFLOG group 1 readers, a collector with cfg,
// flushing every interval; flushed, if set, hears each flush's records)
// until stop, which waits for it. seen summarises what the readers read.
func collectFlowLogs(tb testing.TB, n *testNode, cfg flowlogs.Config, eps flowlogs.Endpoints, interval time.Duration,
	flushed func([]flowlogs.Record)) (stop func(), seen func() string) {
	tb.Helper()
	if err := conntrack.EnableAccounting(n.node); err != nil {
		tb.Fatal(err)
	}
	ct, err := conntrack.New(conntrack.Config{NetNS: n.node})
	if err != nil {
		tb.Fatal(err)
	}
	nl, err := nflog.Open(nflog.Config{Group: 1, NetNS: n.node})
	if err != nil {
		ct.Close()
		tb.Fatal(err)
	}
	rules := lookup.Rules{Owner: func(chain string) (lookup.Owner, bool) {
		o, ok := n.dp.Owner(chain)
		return lookup.Owner{Policy: o.Policy, Tier: o.Tier, Profile: o.Profile}, ok
	}}
	col, err := flowlogs.New(cfg, flowlogs.Deps{Endpoints: eps, Rules: rules})
	if err != nil {
		ct.Close()
		nl.Close()
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ct.Close()
		defer nl.Close()
		err := runner.Run(ctx, runner.Config{Interval: interval, Collector: col, Conntrack: ct, NFLOG: nl,
			Flush: func(_ context.Context, now time.Time) []flowlogs.Record {
				recs := col.Flush(now)
				if flushed != nil {
					flushed(recs)
				}
				return recs
			}})
		if err != nil {
			tb.Error(err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	tb.Cleanup(stop)
	return stop, func() string {
		return fmt.Sprintf("%d verdicts read (%d lost), %d conntrack events", nl.Stats().Verdicts, nl.Stats().Lost, ct.Stats().Started+ct.Stats().Ended)
	}
}

// localEndpoints says every address is a local workload (the benchmark's
// two pods).
type localEndpoints struct{}

func (localEndpoints) Lookup(a netip.Addr) (flowlogs.Endpoint, bool) {
	return flowlogs.Endpoint{Type: "wep", Name: a.String(), Namespace: "x", Local: true}, true
}

// BenchmarkFlowLogsCost measures, in one run, two workloads on one node
// with flow-log collection off and then on (every verdict logged to
// NFLOG, the conntrack and NFLOG readers, the collector flushing every
// second): the TCP_RR and TCP_CRR rates and their ratios, and the
// collector's CPU per 1,000 new connections a second (the process's CPU
// with collection on, less off, at the rates measured).
func BenchmarkFlowLogsCost(b *testing.B) {
	const d = 3 * time.Second
	measure := func(collect bool) (rr, crr, cpu float64) {
		cfg := Config{}
		if collect {
			cfg.NFLOGGroup = 1
		}
		n := newTestNode(b, cfg)
		n.tiers()
		n.namespace("x", nil)
		client := n.addPod("x", "client", "10.65.0.1", nil)
		server := n.addPod("x", "server", "10.65.0.2", nil)
		rrServer(b, server.netns, 7000)
		n.sync()
		addr := server.ip + ":7000"
		stop, seen := func() {}, func() string { return "" }
		if collect {
			stop, seen = collectFlowLogs(b, n, flowlogs.Config{Host: "bench", AggregationAllowed: 2, AggregationDenied: 1,
				EnabledAllowed: true, EnabledDenied: true, IncludePolicies: true}, localEndpoints{}, time.Second, nil)
		}
		start := cpuTime()
		rr = rrRate(b, client.netns, addr, d)
		var conns int
		crr, conns = crrRate(b, client.netns, addr, d)
		cpu = (cpuTime() - start).Seconds()
		stop()
		b.Logf("collection %v: %.0f round trips/s, %.0f connections/s (%d), %.2f s CPU", collect, rr, crr, conns, cpu)
		if collect {
			b.Logf("collector: %s", seen())
		}
		return rr, crr, cpu
	}
	var rrOff, crrOff, cpuOff, rrOn, crrOn, cpuOn float64
	for b.Loop() {
		rrOff, crrOff, cpuOff = measure(false)
		rrOn, crrOn, cpuOn = measure(true)
	}
	b.ReportMetric(rrOn/rrOff, "rr-ratio")
	b.ReportMetric(crrOn/crrOff, "crr-ratio")
	// The collector's share of a core per 1,000 new connections a second.
	extra := (cpuOn - cpuOff) / (2 * d.Seconds())
	b.ReportMetric(100*extra/(crrOn/1000), "cpu-%-per-1k-conn/s")
}
