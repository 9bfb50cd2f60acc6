package nflog

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/calicong/calico/internal/node/flowlogs/event"
)

// floodEnv, set to a count, makes TestFloodHelper send that many reported
// datagrams.
const floodEnv = "CNGT_NFLOG_FLOOD"

// TestFloodHelper is the benchmarks' traffic generator, not a test: they
// run the test binary with floodEnv set inside their namespace, so that
// the sender's CPU time (which includes the kernel's building of the
// reports) is not counted as the reader's.
func TestFloodHelper(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(floodEnv))
	if err != nil {
		t.Skip("the benchmarks' traffic generator")
	}
	if err := flood(n); err != nil {
		t.Fatal(err)
	}
}

// startFlood starts a process sending n reported datagrams in ns.
func startFlood(b *testing.B, ns string, n int) *exec.Cmd {
	b.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestFloodHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), floodEnv+"="+strconv.Itoa(n))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return cmd
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// consume counts verdicts until delivered and lost ones reach n, or the
// deadline passes.
func consume(r *Reader, out <-chan event.Verdict, n int, deadline time.Duration) (delivered int) {
	timeout := time.After(deadline)
	// Lost reports are counted when a later one arrives: check the count
	// on every tick as well as on every report.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for uint64(delivered)+r.Stats().Lost < uint64(n) {
		select {
		case <-out:
			delivered++
		case <-tick.C:
		case <-timeout:
			return delivered
		}
	}
	return delivered
}

func report(b *testing.B, n, delivered int, r *Reader, elapsed, cpu time.Duration) {
	st := r.Stats()
	b.ReportMetric(float64(delivered)/elapsed.Seconds(), "msgs/s")
	if delivered > 0 {
		b.ReportMetric(float64(cpu.Microseconds())*1000/float64(delivered), "cpu-µs/1k-msgs")
	}
	b.ReportMetric(float64(st.Lost), "lost")
	b.ReportMetric(float64(st.Verdicts)/float64(max(st.Batches, 1)), "msgs/batch")
	if uint64(delivered)+st.Lost < uint64(n) {
		b.Errorf("of %d reports, %d delivered and %d lost", n, delivered, st.Lost)
	}
}

// BenchmarkDrain measures the reader alone: the reports of b.N packets
// wait in a socket buffer large enough for them all, then Run reads them
// into a channel that a goroutine empties. msgs/s is what the reader
// sustains; cpu-µs/1k-msgs is this process's CPU time (user and system)
// per 1,000 reports.
func BenchmarkDrain(b *testing.B) {
	ns := floodNS(b)
	r, err := Open(Config{Group: group, NetNS: ns, ReadBuffer: 512 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if err := startFlood(b, ns, b.N).Wait(); err != nil {
		b.Fatal(err)
	}
	out := make(chan event.Verdict, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	go r.Run(ctx, out)
	delivered := consume(r, out, b.N, time.Minute)
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	report(b, b.N, delivered, r, elapsed, cpu)
}

// BenchmarkLive runs the reader while another process sends b.N reported
// packets as fast as it can, with the default socket buffer: msgs/s is
// then bounded by the sender (the two share the machine's cores), and
// lost says whether the reader kept up.
func BenchmarkLive(b *testing.B) {
	ns := floodNS(b)
	r, err := Open(Config{Group: group, NetNS: ns})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	out := make(chan event.Verdict, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx, out)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	cmd := startFlood(b, ns, b.N)
	delivered := consume(r, out, b.N, time.Minute)
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	report(b, b.N, delivered, r, elapsed, cpu)
	reportSender(b, cmd)
}

// BenchmarkSenderUnread is BenchmarkLive's sender with no one bound to
// the group: the difference in sender-cpu-µs/1k-pkts is what producing
// the reports costs the kernel on the packets' path.
func BenchmarkSenderUnread(b *testing.B) {
	ns := floodNS(b)
	b.ResetTimer()
	cmd := startFlood(b, ns, b.N)
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportSender(b, cmd)
}

// reportSender reports the sending process's CPU time per 1,000 packets:
// its system calls, the rule set and the kernel's building of reports.
func reportSender(b *testing.B, cmd *exec.Cmd) {
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())*1000/float64(b.N), "sender-cpu-µs/1k-pkts")
}
