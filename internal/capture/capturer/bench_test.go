package capturer

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/capture/sniff"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
)

// BenchmarkCaptureOverhead: a pod's TCP request/response rate (TCP_RR:
// one byte each way on one connection) and its TCP_STREAM throughput,
// captured (every packet of the flow written to pcap files) against
// uncaptured, in the same run, alternating (issue 26's target: a ratio
// of at least 0.9 for both).
func BenchmarkCaptureOverhead(b *testing.B) {
	netnstest.Require(b)
	nodeNS := netnstest.New(b, "pcbn")
	ep := addPodB(b, nodeNS, 1)
	ep.Pod, ep.Labels = "web-1", map[string]string{"app": "web"}
	// The pod echoes on 8080 and sinks on 8081.
	var echo, sink net.Listener
	err := probe.InNamespace(ep.podNS, func() (err error) {
		if echo, err = net.Listen("tcp", "10.67.1.2:8080"); err != nil {
			return err
		}
		sink, err = net.Listen("tcp", "10.67.1.2:8081")
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	defer echo.Close()
	defer sink.Close()
	go serve(echo, func(c net.Conn) { io.Copy(c, c) })
	go serve(sink, func(c net.Conn) { io.Copy(io.Discard, c) })

	c := New(Config{Node: "node-1", Dir: b.TempDir(), MaxSize: 100 << 20, MaxFiles: 2,
		Open: func(iface string, prog []bpf.Instruction) (s *sniff.Socket, err error) {
			err = probe.InNamespace(nodeNS, func() error { s, err = sniff.Open(iface, prog); return err })
			return s, err
		}})
	defer c.Stop()
	c.SetEndpoint(ep.Endpoint)
	tcp := v3.ProtocolFromString("TCP")
	pc := &v3.PacketCapture{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "demo", UID: "u"},
		Spec: v3.PacketCaptureSpec{Selector: "all()", Filters: []v3.PacketCaptureRule{{Protocol: &tcp, Ports: []v3.Port{{MinPort: 8080, MaxPort: 8081}}}}}}
	ctx := context.Background()
	capture := func(on bool) {
		if on {
			c.SetCapture(pc)
		} else {
			c.DeleteCapture("demo", "bench")
		}
		c.Reconcile(ctx)
	}
	// Rounds of a second each way, captured and not, in alternating
	// order; each round's ratio pairs measurements a second apart, so
	// the machine's drift cancels, and the median of the rounds' ratios
	// is reported.
	const d, rounds = time.Second, 6
	var rr, stream [2]float64 // off, on: sums, for the rates
	var rrRatios, streamRatios []float64
	n := 0
	for b.Loop() {
		for round := range rounds {
			var r, st [2]float64
			order := []bool{false, true}
			if round%2 == 1 {
				order = []bool{true, false}
			}
			for _, on := range order {
				capture(on)
				i := 0
				if on {
					i = 1
				}
				r[i] = measure(b, nodeNS, func(conn net.Conn, until time.Time) float64 {
					buf := make([]byte, 1)
					tx := 0
					for time.Now().Before(until) {
						if _, err := conn.Write(buf); err != nil {
							b.Fatal(err)
						}
						if _, err := io.ReadFull(conn, buf); err != nil {
							b.Fatal(err)
						}
						tx++
					}
					return float64(tx) / d.Seconds()
				}, "10.67.1.2:8080", d)
				st[i] = measure(b, nodeNS, func(conn net.Conn, until time.Time) float64 {
					buf := make([]byte, 64<<10)
					sent := 0
					for time.Now().Before(until) {
						k, err := conn.Write(buf)
						if err != nil {
							b.Fatal(err)
						}
						sent += k
					}
					return float64(sent) * 8 / d.Seconds() / 1e6
				}, "10.67.1.2:8081", d)
			}
			for i := range 2 {
				rr[i] += r[i]
				stream[i] += st[i]
			}
			rrRatios = append(rrRatios, r[1]/r[0])
			streamRatios = append(streamRatios, st[1]/st[0])
			n++
		}
		capture(false)
	}
	b.ReportMetric(rr[0]/float64(n), "rr-off-tx/s")
	b.ReportMetric(rr[1]/float64(n), "rr-on-tx/s")
	b.ReportMetric(median(rrRatios), "rr-ratio")
	b.ReportMetric(stream[0]/float64(n), "stream-off-Mbit/s")
	b.ReportMetric(stream[1]/float64(n), "stream-on-Mbit/s")
	b.ReportMetric(median(streamRatios), "stream-ratio")
	// A capture that kept up: what it dropped, of what it wrote.
	written, dropped := c.Counts()
	b.ReportMetric(float64(dropped)/float64(max(written+dropped, 1)), "dropped-fraction")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// podB is a pod made for the benchmark.
type podB struct {
	Endpoint
	podNS string
}

func addPodB(b *testing.B, nodeNS string, i int) podB {
	pod := netnstest.New(b, fmt.Sprintf("pcbp%d", i))
	iface := fmt.Sprintf("calib%d", i)
	netnstest.Run(b, "ip", "-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", iface, "netns", nodeNS)
	netnstest.Run(b, "ip", "-n", pod, "addr", "add", fmt.Sprintf("10.67.%d.2/24", i), "dev", "eth0")
	netnstest.Run(b, "ip", "-n", pod, "link", "set", "eth0", "up")
	netnstest.Run(b, "ip", "-n", nodeNS, "addr", "add", fmt.Sprintf("10.67.%d.1/24", i), "dev", iface)
	netnstest.Run(b, "ip", "-n", nodeNS, "link", "set", iface, "up")
	return podB{Endpoint{Namespace: "demo", Interface: iface}, pod}
}

func serve(l net.Listener, f func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); f(c) }()
	}
}

// measure runs f over one connection from the node for d.
func measure(b *testing.B, ns string, f func(net.Conn, time.Time) float64, addr string, d time.Duration) float64 {
	var v float64
	err := probe.InNamespace(ns, func() error {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		v = f(conn, time.Now().Add(d))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return v
}
