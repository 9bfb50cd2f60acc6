package nflog

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/node/flowlogs/event"
	"github.com/calicong/calico/internal/poll"
)

const group = 7

var (
	client4 = netip.MustParseAddr("10.78.0.1")
	server4 = netip.MustParseAddr("10.78.0.2")
	client6 = netip.MustParseAddr("fd78::1")
	server6 = netip.MustParseAddr("fd78::2")
)

// Prefixes of the server's rules (rule IDs as the dataplane renders
// them).
const (
	allow4 = "AI0|pi-test"
	deny4  = "DI|tier default"
	allow6 = "AI1|pi-test6"
	deny6  = "DI|tier v6"
	udp    = "AI2|pi-udp"
	icmp4  = "AI3|pi-icmp"
	icmp6  = "AI4|pi-icmp6"
)

// setup makes a client and a server namespace joined by a veth pair; the
// server's input chain accepts established traffic, then reports its
// verdicts on new traffic to the group.
func setup(t *testing.T) (clientNS, serverNS string) {
	t.Helper()
	netnstest.Require(t)
	clientNS, serverNS = netnstest.New(t, "nflc"), netnstest.New(t, "nfls")
	run := func(ns string, argv ...string) { netnstest.Run(t, append(netnstest.Exec(ns), argv...)...) }
	netnstest.Run(t, "ip", "-n", clientNS, "link", "add", "vc", "type", "veth", "peer", "name", "vs", "netns", serverNS)
	for _, side := range []struct {
		ns, dev string
		a4, a6  netip.Addr
	}{{clientNS, "vc", client4, client6}, {serverNS, "vs", server4, server6}} {
		run(side.ns, "ip", "addr", "add", side.a4.String()+"/24", "dev", side.dev)
		run(side.ns, "ip", "addr", "add", side.a6.String()+"/64", "dev", side.dev, "nodad")
		run(side.ns, "ip", "link", "set", side.dev, "up")
	}
	nft(t, serverNS, fmt.Sprintf(`
table inet cngt-nflog {
	chain in {
		type filter hook input priority 0;
		ct state established,related accept
		ip daddr %[2]s tcp dport 80 counter log prefix %[3]q group %[1]d accept
		ip daddr %[2]s tcp dport 81 counter log prefix %[4]q group %[1]d drop
		ip6 daddr %[5]s tcp dport 80 counter log prefix %[6]q group %[1]d accept
		ip6 daddr %[5]s tcp dport 81 counter log prefix %[7]q group %[1]d drop
		udp dport 53 meta mark set 0x00040000 counter log prefix %[8]q group %[1]d accept
		icmp type echo-request counter log prefix %[9]q group %[1]d accept
		icmpv6 type echo-request counter log prefix %[10]q group %[1]d accept
	}
}
`, group, server4, allow4, deny4, server6, allow6, deny6, udp, icmp4, icmp6))
	return clientNS, serverNS
}

func nft(t testing.TB, ns, ruleset string) {
	t.Helper()
	f := t.TempDir() + "/rules.nft"
	if err := os.WriteFile(f, []byte(ruleset), 0o644); err != nil {
		t.Fatal(err)
	}
	netnstest.Run(t, append(netnstest.Exec(ns), "nft", "-f", f)...)
}

// counter reads the packets and bytes of the rule logging with prefix.
func counter(t testing.TB, ns, table, chain, prefix string) (packets, bytes int) {
	t.Helper()
	out := netnstest.Run(t, append(netnstest.Exec(ns), "nft", "list", "chain", "inet", table, chain)...)
	re := regexp.MustCompile(`counter packets (\d+) bytes (\d+) log prefix "` + regexp.QuoteMeta(prefix) + `"`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no counter for %q in:\n%s", prefix, out)
	}
	packets, _ = strconv.Atoi(m[1])
	bytes, _ = strconv.Atoi(m[2])
	return packets, bytes
}

// collector runs a Reader and keeps its verdicts.
type collector struct {
	r    *Reader
	mu   sync.Mutex
	seen []event.Verdict
}

func start(t *testing.T, cfg Config) (*collector, context.CancelFunc, <-chan error) {
	t.Helper()
	r, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c := &collector{r: r}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out := make(chan event.Verdict, 16)
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, out)
		close(out)
	}()
	go func() {
		for v := range out {
			c.mu.Lock()
			c.seen = append(c.seen, v)
			c.mu.Unlock()
		}
	}()
	return c, cancel, done
}

func (c *collector) withPrefix(prefix string) []event.Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []event.Verdict
	for _, v := range c.seen {
		if v.Prefix == prefix {
			out = append(out, v)
		}
	}
	return out
}

// matchCounter waits until the verdicts with prefix are as many, and as
// large, as the rule's nft counter says its packets were, and returns
// them.
func (c *collector) matchCounter(t *testing.T, ns, prefix string) []event.Verdict {
	t.Helper()
	var vs []event.Verdict
	var last string
	poll.Until(t, 10*time.Second, "verdicts of "+prefix+" to match the rule's counter", func() bool {
		vs = c.withPrefix(prefix)
		packets, bytes := counter(t, ns, "cngt-nflog", "in", prefix)
		sum := 0
		for _, v := range vs {
			sum += v.Bytes
		}
		last = fmt.Sprintf("counter %d packets %d bytes; verdicts %d, %d bytes: %+v", packets, bytes, len(vs), sum, vs)
		return packets > 0 && len(vs) == packets && sum == bytes
	}, &last)
	return vs
}

func inNS(t *testing.T, ns string, f func() error) {
	t.Helper()
	if err := probe.InNamespace(ns, f); err != nil {
		t.Fatal(err)
	}
}

func family(a netip.Addr) string { return map[bool]string{true: "IPv4", false: "IPv6"}[a.Is4()] }

// TestVerdicts: accepted and dropped TCP, UDP and ICMP traffic over IPv4
// and IPv6 gives one verdict per logged packet with the rule's exact
// prefix, the packet's tuple and its size (the nft counter's bytes).
func TestVerdicts(t *testing.T) {
	clientNS, serverNS := setup(t)
	srv, err := probe.Serve(serverNS, "server", []probe.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 53}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, _, _ := start(t, Config{Group: group, NetNS: serverNS})

	for _, f := range []struct {
		server, client       netip.Addr
		allow, deny, icmp    string
		icmpProto, ipHdrSize uint8
	}{{server4, client4, allow4, deny4, icmp4, event.ProtoICMP, 20}, {server6, client6, allow6, deny6, icmp6, event.ProtoICMPv6, 40}} {
		t.Run(family(f.server), func(t *testing.T) {
			// Accepted: only the first packet reaches the rule.
			var orig event.Tuple
			inNS(t, clientNS, func() error {
				conn, err := net.Dial("tcp", netip.AddrPortFrom(f.server, 80).String())
				if err != nil {
					return err
				}
				defer conn.Close()
				l := conn.LocalAddr().(*net.TCPAddr).AddrPort()
				orig = event.Tuple{Proto: event.ProtoTCP, Src: l.Addr().Unmap(), SrcPort: l.Port(), Dst: f.server, DstPort: 80}
				_, err = fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
				return err
			})
			vs := c.matchCounter(t, serverNS, f.allow)
			if len(vs) != 1 || vs[0].Tuple != orig || vs[0].At.IsZero() || vs[0].Hook != event.HookInput || vs[0].Mark != 0 {
				t.Errorf("allowed connection: verdicts %+v; want one for %s, in the input hook, unmarked", vs, orig)
			}

			// Dropped: every retransmitted SYN is reported.
			res, err := probe.Connect(clientNS, "TCP", f.server.String(), 81, 1500*time.Millisecond)
			if err != nil || res.Connected {
				t.Fatalf("connect to the dropped port: %+v, %v", res, err)
			}
			for _, v := range c.matchCounter(t, serverNS, f.deny) {
				if v.Tuple.Proto != event.ProtoTCP || v.Tuple.Src != f.client || v.Tuple.Dst != f.server || v.Tuple.DstPort != 81 || v.Tuple.SrcPort == 0 {
					t.Errorf("dropped connection: verdict %+v", v)
				}
			}

			// UDP: the size is the payload plus the IP and UDP headers.
			const payload = 100
			inNS(t, clientNS, func() error {
				conn, err := net.Dial("udp", netip.AddrPortFrom(f.server, 53).String())
				if err != nil {
					return err
				}
				defer conn.Close()
				l := conn.LocalAddr().(*net.UDPAddr).AddrPort()
				orig = event.Tuple{Proto: event.ProtoUDP, Src: l.Addr().Unmap(), SrcPort: l.Port(), Dst: f.server, DstPort: 53}
				_, err = conn.Write(make([]byte, payload))
				return err
			})
			var got []event.Verdict
			poll.Until(t, 5*time.Second, "the UDP verdict", func() bool {
				got = nil
				for _, v := range c.withPrefix(udp) {
					if v.Tuple == orig {
						got = append(got, v)
					}
				}
				return len(got) > 0
			})
			// The rule marks the packet before logging it: the report
			// carries the mark.
			if want := payload + 8 + int(f.ipHdrSize); len(got) != 1 || got[0].Bytes != want || got[0].Mark != 0x40000 {
				t.Errorf("UDP: verdicts %+v; want one of %d bytes, marked 0x40000", got, want)
			}

			// ICMP echo: no ports.
			if res, err := probe.Connect(clientNS, "ICMP", f.server.String(), 0, 5*time.Second); err != nil || !res.Connected {
				t.Fatalf("ping: %+v, %v", res, err)
			}
			for _, v := range c.matchCounter(t, serverNS, f.icmp) {
				if v.Tuple != (event.Tuple{Proto: f.icmpProto, Src: f.client, Dst: f.server}) {
					t.Errorf("ICMP: verdict %+v", v)
				}
			}
		})
	}
	if st := c.r.Stats(); st.Lost != 0 || st.Overflows != 0 || st.ParseErrors != 0 {
		t.Errorf("stats %+v: want nothing lost or unparsed", st)
	}
}

// TestStopAndRebind: Run returns when its context ends and the group is
// then free again; while it is held, a second Open fails.
func TestStopAndRebind(t *testing.T) {
	_, serverNS := setup(t)
	c, cancel, done := start(t, Config{Group: group, NetNS: serverNS})
	poll.Until(t, 5*time.Second, "Run to start", c.r.running.Load)
	if _, err := Open(Config{Group: group, NetNS: serverNS}); err == nil || !strings.Contains(err.Error(), "taken by another socket") {
		t.Errorf("second Open of group %d: %v; want it taken", group, err)
	}
	if err := c.r.Run(context.Background(), make(chan event.Verdict)); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
	r, err := Open(Config{Group: group, NetNS: serverNS})
	if err != nil {
		t.Fatalf("Open after the first reader stopped: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.r.Close(); err != nil {
		t.Errorf("Close after Run ended: %v", err)
	}
}

// floodNS makes a namespace whose output chain reports and drops UDP to
// port 9, so that each datagram sent there is one report.
func floodNS(t testing.TB) string {
	t.Helper()
	netnstest.Require(t)
	ns := netnstest.New(t, "nflf")
	nft(t, ns, fmt.Sprintf(`
table inet cngt-flood {
	chain out {
		type filter hook output priority 0;
		udp dport 9 counter log prefix "DE|flood" group %d drop
	}
}
`, group))
	return ns
}

// flood sends n datagrams to the reporting port; each is dropped.
func flood(n int) error {
	conn, err := net.Dial("udp", "127.0.0.1:9")
	if err != nil {
		return err
	}
	defer conn.Close()
	b := make([]byte, 32)
	for i := 0; i < n; i++ {
		_, _ = conn.Write(b) // EPERM: the rule dropped it
	}
	return nil
}

// TestLossCounted: with a small socket buffer and no one reading, the
// kernel drops reports; those delivered and those counted lost add up
// to what the rule logged.
func TestLossCounted(t *testing.T) {
	ns := floodNS(t)
	r, err := Open(Config{Group: group, NetNS: ns, ReadBuffer: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	inNS(t, ns, func() error { return flood(20000) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan event.Verdict, 1024)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, out) }()
	var delivered int
	drain := func() {
		for len(out) > 0 {
			if v := <-out; v.Prefix == "DE|flood" {
				delivered++
			}
		}
	}
	poll.Until(t, 5*time.Second, "the overflow to be reported", func() bool { drain(); return r.Stats().Overflows > 0 })
	// A report after the loss reveals the gap before it.
	inNS(t, ns, func() error { return flood(1) })
	var last string
	poll.Until(t, 10*time.Second, "delivered and lost reports to add up to the rule's counter", func() bool {
		drain()
		packets, _ := counter(t, ns, "cngt-flood", "out", "DE|flood")
		st := r.Stats()
		last = fmt.Sprintf("counter %d, delivered %d, stats %+v", packets, delivered, st)
		return packets == 20001 && uint64(delivered)+st.Lost == uint64(packets)
	}, &last)
	st := r.Stats()
	if st.Lost == 0 || delivered == 0 || st.Verdicts != uint64(delivered) {
		t.Errorf("delivered %d, stats %+v: want some lost and some delivered", delivered, st)
	}
	t.Logf("of 20001 reports: %d delivered, %d lost in %d overflows", delivered, st.Lost, st.Overflows)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
