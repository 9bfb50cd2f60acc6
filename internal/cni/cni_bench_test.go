package cni

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkAdd measures CNI ADD latency (calico and calico-ipam processes,
// veth, routes, IPAM and annotations against the lab's API server), one
// ADD at a time on one node, and reports p50 and p99. Each ADD's pod is
// then deleted.
func BenchmarkAdd(b *testing.B) {
	makePool(b, "cni-bench", "10.77.0.0/20", 26)
	n := newNode(b, "cni-bench")
	// The plugin logs to a file, as an install configures it (and so its
	// lines stay out of the benchmark's output).
	logFile := filepath.Join(b.TempDir(), "cni.log")
	conf := n.conf(map[string]any{"log_file_path": logFile}, map[string]any{"ipv4_pools": []string{"cni-bench"}})
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		name := fmt.Sprintf("b-%d", i)
		makePod(b, "cni-bench", name, n.name, nil)
		sb := n.sandbox("cni-bench", name)
		b.StartTimer()
		start := time.Now()
		if _, err := n.cni.AddNetworkList(ctx(), conf, sb.rt()); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if err := n.cni.DelNetworkList(ctx(), conf, sb.rt()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
