package lab_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/node/felix"
	"github.com/calicong/calico/internal/poll"
)

// BenchmarkLabDNS measures what domain-based policy costs a pod's DNS
// lookups, in a 2-node lab with CoreDNS as kube-dns. A pod on node-2,
// under an egress rule allowing *.bench.example.test, looks up names
// whose every answer is an address no set holds yet (the outside zone
// gets 1,000 names, each on its own address), so each answer is held
// until an nft set update is programmed. It reports, over 300 lookups
// each way:
//   - on-p50-ms, on-p99-ms: lookup latency with snooping on
//     (DelayDNSResponse: the answer is held until its address is in
//     the set);
//   - off-p50-ms, off-p99-ms: the same with snooping off (node-2's
//     queue rule removed, so answers pass unread);
//   - added-p50-ms, added-p99-ms: the difference;
//   - hold-mean-ms: calico-node's own measure of how long it held an
//     answer (felix_dns_answer_hold_seconds), response to nft included;
//   - set-update-mean-ms: the nft programming alone
//     (felix_dns_set_update_time_seconds).
func BenchmarkLabDNS(b *testing.B) {
	netnstest.Require(b)
	netnstest.RequireBinaries(b, "bird", "iptables")
	const lookups = 300
	for b.Loop() {
		cfg, err := labtest.Config(filepath.Join(b.TempDir(), "lab"))
		if err != nil {
			b.Fatal(err)
		}
		cfg.Nodes = 2
		b.Cleanup(func() { _ = lab.Down(context.Background(), cfg, &bytes.Buffer{}) })
		var out bytes.Buffer
		if err := lab.Up(context.Background(), cfg, &out); err != nil {
			b.Fatalf("%v\n%s", err, out.String())
		}
		bin, _ := labtest.BinDir()
		run := func(stdin, name string, args ...string) string {
			cmd := exec.Command(filepath.Join(bin, name), args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+cfg.KubeconfigPath())
			cmd.Stdin = strings.NewReader(stdin)
			o, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("%s %v: %v\n%s", name, args, err, o)
			}
			return string(o)
		}
		// 2 × lookups names, each on an address of its own (198.18/15 is
		// for benchmarks; nothing needs to answer there).
		hosts, err := os.ReadFile(cfg.OutsideHostsFile())
		if err != nil {
			b.Fatal(err)
		}
		var extra strings.Builder
		for i := range 2 * lookups {
			fmt.Fprintf(&extra, "198.18.%d.%d b%d.bench.example.test\n", i/250, 1+i%250, i)
		}
		if err := os.WriteFile(cfg.OutsideHostsFile(), append(hosts, extra.String()...), 0o644); err != nil {
			b.Fatal(err)
		}
		domainClient(func(stdin, name string, args ...string) { run(stdin, name, args...) }, "dnsb", `
  - {action: Allow, destination: {domains: ["*.bench.example.test"]}}`)
		ctx := context.Background()
		var ns string
		dns := cfg.ClusterDNS()
		// The pod runs, and the outside zone has the new names, once the
		// last one resolves from it.
		poll.Until(b, 60*time.Second, "the bench names to resolve from dnsb/cli", func() bool {
			if ns, err = lab.Namespace(ctx, cfg, "dnsb/cli"); err != nil {
				return false
			}
			_, err := probe.Lookup(ns, dns, fmt.Sprintf("b%d.bench.example.test", 2*lookups-1), time.Second)
			return err == nil
		})
		measure := func(first int) []time.Duration {
			var lat []time.Duration
			for i := first; i < first+lookups; i++ {
				start := time.Now()
				if _, err := probe.Lookup(ns, dns, fmt.Sprintf("b%d.bench.example.test", i), 2*time.Second); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			return lat
		}
		metric := func(name string) float64 {
			o := run("", "calico-lab", "--state-dir="+cfg.StateDir, "exec", "node-2", "--", "curl", "-s", "localhost:9091/metrics")
			for _, l := range strings.Split(o, "\n") {
				if f := strings.Fields(l); len(f) == 2 && f[0] == name {
					v, _ := strconv.ParseFloat(f[1], 64)
					return v
				}
			}
			return 0
		}
		on := measure(0)
		holdSum, holdN := metric("felix_dns_answer_hold_seconds_sum"), metric("felix_dns_answer_hold_seconds_count")
		updSum, updN := metric("felix_dns_set_update_time_seconds_sum"), metric("felix_dns_set_update_time_seconds_count")
		run("", "calico-lab", "--state-dir="+cfg.StateDir, "exec", "node-2", "--", "iptables", "-t", "mangle", "-D", "FORWARD",
			"-m", "mark", "--mark", fmt.Sprintf("0x%x/0x%x", felix.DNSMark, felix.DNSMark), "-m", "comment", "--comment", "calico-node: DNS answers for domain policy",
			"-j", "NFQUEUE", "--queue-num", fmt.Sprint(felix.DNSQueue), "--queue-bypass")
		off := measure(lookups)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		p := func(lat []time.Duration, q int) time.Duration { return lat[len(lat)*q/100] }
		b.ReportMetric(ms(p(on, 50)), "on-p50-ms")
		b.ReportMetric(ms(p(on, 99)), "on-p99-ms")
		b.ReportMetric(ms(p(off, 50)), "off-p50-ms")
		b.ReportMetric(ms(p(off, 99)), "off-p99-ms")
		b.ReportMetric(ms(p(on, 50)-p(off, 50)), "added-p50-ms")
		b.ReportMetric(ms(p(on, 99)-p(off, 99)), "added-p99-ms")
		if holdN > 0 {
			b.ReportMetric(1000*holdSum/holdN, "hold-mean-ms")
		}
		if updN > 0 {
			b.ReportMetric(1000*updSum/updN, "set-update-mean-ms")
			b.ReportMetric(updN, "set-updates")
		}
	}
}
