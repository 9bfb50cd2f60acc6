package calc

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

// The shape of Calico's own calc-graph benchmark (see the issue): 100
// namespaces, 250,000 remote endpoints plus 200 local ones, each with five
// one-in-N labels and one of 31 marker labels, and 10,000 policies in tier
// default, each selecting has(marker) with 5 inbound rules whose sources
// are has(another marker).
const (
	benchNamespaces = 100
	benchRemote     = 250_000
	benchLocal      = 200
	benchPolicies   = 10_000
	benchMarkers    = 31
	benchBatch      = 1000
)

var oneInN = []int{10, 11, 20, 30, 40}

func marker(i int) string { return fmt.Sprintf("marker-%02d", i%benchMarkers) }

func benchWEP(k int, markerOffset int) model.KVPair {
	ns := fmt.Sprintf("ns-%03d", k%benchNamespaces)
	nodeName := fmt.Sprintf("remote-%d", k%1000)
	if k >= benchRemote {
		nodeName = node
	}
	labels := make(map[string]string, 8)
	for _, n := range oneInN {
		labels[fmt.Sprintf("one-in-%d", n)] = fmt.Sprintf("value-%d", k%n)
	}
	labels[marker(k+markerOffset)] = "true"
	labels[v3.LabelNamespace] = ns
	labels[v3.LabelOrchestrator] = "k8s"
	pod := fmt.Sprintf("pod-%06d", k)
	name := conversion.WorkloadEndpointName(nodeName, pod, "eth0")
	ip := fmt.Sprintf("10.%d.%d.%d", 64+k>>16, (k>>8)&255, k&255)
	w := &v3.WorkloadEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: v3.WorkloadEndpointSpec{
			Orchestrator: "k8s", Node: nodeName, Pod: pod, Endpoint: "eth0",
			IPNetworks: []string{ip + "/32"}, Profiles: []string{"kns." + ns},
			InterfaceName: conversion.VethName(ns, pod),
		},
	}
	return model.KVPair{Key: model.Key{Kind: model.KindWorkloadEndpoint, Namespace: ns, Name: name}, Value: w}
}

func benchPolicy(i int, ruleOffset int) model.KVPair {
	var rules []v3.Rule
	for j := range 5 {
		rules = append(rules, allowFrom("has("+marker(i+j+1+ruleOffset)+")"))
	}
	order := float64(i % 100)
	p := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("policy-%05d", i)},
		Spec: v3.GlobalNetworkPolicySpec{Tier: "default", Order: &order, Selector: "has(" + marker(i) + ")", Ingress: rules}}
	v3.Default(p)
	return model.KVPair{Key: model.Key{Kind: "GlobalNetworkPolicy", Name: p.Name}, Value: p}
}

// counting is a sink that keeps nothing but counts.
type counting struct{ msgs, members int }

func (c *counting) sink(msgs []proto.Message) {
	c.msgs += len(msgs)
	for _, m := range msgs {
		if u, ok := m.(proto.IPSetUpdate); ok {
			c.members += len(u.Members)
		}
	}
}

// coldStart feeds the whole scenario in batches, as a syncer would, then
// in-sync and one flush. It returns the time spent in the graph, which
// excludes generating the updates.
func coldStart(sink func([]proto.Message)) (*Graph, time.Duration) {
	g := New(Config{Hostname: node}, sink)
	var inGraph time.Duration
	batch := make([]model.Update, 0, benchBatch)
	send := func(kv model.KVPair) {
		batch = append(batch, model.Update{KVPair: kv})
		if len(batch) == cap(batch) {
			start := time.Now()
			g.OnUpdates(batch)
			inGraph += time.Since(start)
			batch = batch[:0]
		}
	}
	for _, kv := range builtinTiers() {
		send(kv)
	}
	for i := range benchNamespaces {
		send(nsProfile(fmt.Sprintf("ns-%03d", i), map[string]string{"name": fmt.Sprintf("ns-%03d", i)}))
	}
	for k := range benchRemote + benchLocal {
		send(benchWEP(k, 0))
	}
	for i := range benchPolicies {
		send(benchPolicy(i, 0))
	}
	start := time.Now()
	g.OnUpdates(batch)
	g.OnStatusUpdated(model.InSync)
	g.Flush()
	inGraph += time.Since(start)
	return g, inGraph
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkColdStart reports the time spent in the graph, the time
// including generating the updates, and the retained heap to compute the
// local node's state from nothing.
func BenchmarkColdStart(b *testing.B) {
	if testing.Short() {
		b.Skip("250k endpoints")
	}
	var secs, total, mb float64
	for b.Loop() {
		before := heapInUse()
		var c counting
		start := time.Now()
		g, inGraph := coldStart(c.sink)
		total += time.Since(start).Seconds()
		secs += inGraph.Seconds()
		after := heapInUse()
		mb = float64(after-before) / (1 << 20)
		if c.members < benchRemote {
			b.Fatalf("only %d IP set members sent", c.members)
		}
		runtime.KeepAlive(g)
	}
	b.ReportMetric(secs/float64(b.N), "cold-s")
	b.ReportMetric(total/float64(b.N), "with-generation-s")
	b.ReportMetric(mb, "retained-MB")
}

// BenchmarkIncremental reports p50 and p99 latency of processing one
// change and flushing: a remote endpoint's marker label (moves its address
// between IP sets), a local endpoint's marker label (changes its policies),
// and a policy's rules.
func BenchmarkIncremental(b *testing.B) {
	if testing.Short() {
		b.Skip("250k endpoints")
	}
	var c counting
	g, _ := coldStart(c.sink)
	measure := func(n int, change func(i int) model.KVPair) (p50, p99 time.Duration) {
		ds := make([]time.Duration, 0, n)
		for i := range n {
			kv := change(i)
			start := time.Now()
			g.OnUpdates([]model.Update{{KVPair: kv}})
			g.Flush()
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds[n/2], ds[n*99/100]
	}
	for b.Loop() {
		r50, r99 := measure(2000, func(i int) model.KVPair { return benchWEP((i*7919)%benchRemote, 1+i%5) })
		l50, l99 := measure(400, func(i int) model.KVPair { return benchWEP(benchRemote+(i*13)%benchLocal, 1+i%5) })
		p50, p99 := measure(2000, func(i int) model.KVPair { return benchPolicy((i*7)%benchPolicies, 1+i%5) })
		b.ReportMetric(float64(r50.Microseconds()), "remote-ep-p50-µs")
		b.ReportMetric(float64(r99.Microseconds()), "remote-ep-p99-µs")
		b.ReportMetric(float64(l50.Microseconds()), "local-ep-p50-µs")
		b.ReportMetric(float64(l99.Microseconds()), "local-ep-p99-µs")
		b.ReportMetric(float64(p50.Microseconds()), "policy-p50-µs")
		b.ReportMetric(float64(p99.Microseconds()), "policy-p99-µs")
	}
}
