package conntrack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/node/flowlogs/event"
	"github.com/calicong/calico/internal/poll"
)

// Addresses of the test's two namespaces: the client's (whose conntrack
// is read) and the server's, joined by a veth pair.
var (
	client4  = netip.MustParseAddr("10.77.0.1")
	server4  = netip.MustParseAddr("10.77.0.2")
	client6  = netip.MustParseAddr("fd77::1")
	server6  = netip.MustParseAddr("fd77::2")
	service4 = netip.MustParseAddr("10.96.0.10")
)

const (
	serverPort  = 8080
	servicePort = 80
)

// pair is a client namespace with conntrack active (a filter chain with
// a ct rule, a DNAT from the service address to the server) and
// accounting on, and a server namespace.
type pair struct{ client, server string }

func setup(t *testing.T) pair {
	t.Helper()
	netnstest.Require(t)
	p := pair{client: netnstest.New(t, "ctc"), server: netnstest.New(t, "cts")}
	run := func(ns string, argv ...string) { netnstest.Run(t, append(netnstest.Exec(ns), argv...)...) }
	netnstest.Run(t, "ip", "-n", p.client, "link", "add", "vc", "type", "veth", "peer", "name", "vs", "netns", p.server)
	for _, side := range []struct {
		ns, dev string
		a4, a6  netip.Addr
	}{{p.client, "vc", client4, client6}, {p.server, "vs", server4, server6}} {
		run(side.ns, "ip", "addr", "add", side.a4.String()+"/24", "dev", side.dev)
		run(side.ns, "ip", "addr", "add", side.a6.String()+"/64", "dev", side.dev, "nodad")
		run(side.ns, "ip", "link", "set", side.dev, "up")
	}
	run(p.client, "ip", "route", "add", "10.96.0.0/24", "via", server4.String())
	ruleset := fmt.Sprintf(`
table inet cngt-ct {
	chain out {
		type filter hook output priority 0;
		ct state new counter
	}
}
table ip cngt-nat {
	chain out {
		type nat hook output priority -100;
		ip daddr %s tcp dport %d dnat to %s:%d
	}
}
`, service4, servicePort, server4, serverPort)
	nft(t, p.client, ruleset)
	if err := EnableAccounting(p.client); err != nil {
		t.Fatal(err)
	}
	// A closed connection's entry then lasts one second in TIME_WAIT.
	if err := SetSysctl(p.client, "net/netfilter/nf_conntrack_tcp_timeout_time_wait", "1"); err != nil {
		t.Fatal(err)
	}
	return p
}

func nft(t *testing.T, ns, ruleset string) {
	t.Helper()
	f := t.TempDir() + "/rules.nft"
	if err := os.WriteFile(f, []byte(ruleset), 0o644); err != nil {
		t.Fatal(err)
	}
	netnstest.Run(t, append(netnstest.Exec(ns), "nft", "-f", f)...)
}

// collector runs a Reader and keeps what it delivers.
type collector struct {
	r    *Reader
	mu   sync.Mutex
	seen []event.Conn
	done chan error
}

func start(t *testing.T, cfg Config) *collector {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{r: r, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan event.Conn, 64)
	go func() { c.done <- r.Run(ctx, out) }()
	go func() {
		for ev := range out {
			c.mu.Lock()
			c.seen = append(c.seen, ev)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-c.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return when its context ended")
		}
		close(out)
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// await waits for an observation of kind whose original tuple is orig.
func (c *collector) await(t *testing.T, kind event.ConnKind, orig event.Tuple) event.Conn {
	t.Helper()
	var got event.Conn
	var last string
	poll.Until(t, 10*time.Second, fmt.Sprintf("%s %s", kind, orig), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		var b strings.Builder
		for _, ev := range c.seen {
			fmt.Fprintf(&b, "%s %s\n", ev.Kind, ev.Orig)
			if ev.Kind == kind && ev.Orig == orig {
				got = ev
				return true
			}
		}
		last = "seen:\n" + b.String()
		return false
	}, &last)
	return got
}

// inNS runs f in a namespace (sockets made there stay there).
func inNS(t *testing.T, ns string, f func() error) {
	t.Helper()
	if err := probe.InNamespace(ns, f); err != nil {
		t.Fatal(err)
	}
}

// tcpServer accepts connections on serverPort in ns: it reads until the
// client half-closes, then writes reply bytes and closes.
func tcpServer(t *testing.T, ns string, reply int) {
	t.Helper()
	var l net.Listener
	inNS(t, ns, func() (err error) {
		l, err = net.Listen("tcp", fmt.Sprintf(":%d", serverPort))
		return err
	})
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
				_, _ = c.Write(make([]byte, reply))
			}()
		}
	}()
}

func tupleOf(proto uint8, local, remote net.Addr) event.Tuple {
	ap := func(a net.Addr) netip.AddrPort {
		switch a := a.(type) {
		case *net.TCPAddr:
			return a.AddrPort()
		case *net.UDPAddr:
			return a.AddrPort()
		}
		panic(fmt.Sprintf("address %T", a))
	}
	l, r := ap(local), ap(remote)
	return event.Tuple{Proto: proto, Src: l.Addr().Unmap(), Dst: r.Addr().Unmap(), SrcPort: l.Port(), DstPort: r.Port()}
}

// headerBounds is the least and most header bytes a packet of the family
// carries: IP (20 or 40) and TCP (20, and up to 40 of options).
func headerBounds(addr netip.Addr) (lo, hi uint64) {
	if addr.Is4() {
		return 20 + 20, 20 + 60
	}
	return 40 + 20, 40 + 60
}

func checkTCPCounters(t *testing.T, what string, packets, bytes uint64, payload int, fam netip.Addr) {
	t.Helper()
	lo, hi := headerBounds(fam)
	min, max := uint64(payload)+lo*packets, uint64(payload)+hi*packets
	if packets < 3 || bytes < min || bytes > max {
		t.Errorf("%s: %d packets, %d bytes; want ≥3 packets and %d payload bytes plus %d–%d header bytes a packet (%d–%d)",
			what, packets, bytes, payload, lo, hi, min, max)
	}
}

// endedAfterDumps waits for a ConnEnded, dumping the table meanwhile (a
// dump evicts expired entries; the kernel's own collection may take a
// minute).
func (c *collector) endedAfterDumps(t *testing.T, orig event.Tuple) event.Conn {
	t.Helper()
	var got event.Conn
	poll.Until(t, 15*time.Second, "connection ended", func() bool {
		c.mu.Lock()
		for _, ev := range c.seen {
			if ev.Kind == event.ConnEnded && ev.Orig == orig {
				got = ev
			}
		}
		c.mu.Unlock()
		if got.Kind != 0 {
			return true
		}
		if _, err := c.r.Dump(context.Background()); err != nil {
			t.Fatal(err)
		}
		return false
	})
	return got
}

// TestTCPStartedEnded: a TCP connection over IPv4 and IPv6 is Started,
// then Ended when it has closed (and left TIME_WAIT) with counters that
// are the payload sent each way plus a packet's headers per packet.
func TestTCPStartedEnded(t *testing.T) {
	p := setup(t)
	const sent, replied = 10000, 3000
	tcpServer(t, p.server, replied)
	c := start(t, Config{NetNS: p.client})
	for _, dst := range []netip.Addr{server4, server6} {
		t.Run(map[bool]string{true: "IPv4", false: "IPv6"}[dst.Is4()], func(t *testing.T) {
			var orig event.Tuple
			inNS(t, p.client, func() error {
				conn, err := net.Dial("tcp", netip.AddrPortFrom(dst, serverPort).String())
				if err != nil {
					return err
				}
				defer conn.Close()
				orig = tupleOf(event.ProtoTCP, conn.LocalAddr(), conn.RemoteAddr())
				if _, err := conn.Write(make([]byte, sent)); err != nil {
					return err
				}
				if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
					return err
				}
				n, err := io.Copy(io.Discard, conn)
				if err == nil && n != replied {
					err = fmt.Errorf("read %d bytes, want %d", n, replied)
				}
				return err
			})
			started := c.await(t, event.ConnStarted, orig)
			if started.Reply != orig.Reverse() {
				t.Errorf("started: reply tuple %s, want %s (no NAT)", started.Reply, orig.Reverse())
			}
			if started.ID == 0 || started.At.IsZero() {
				t.Errorf("started: ID %d, At %v; want both set", started.ID, started.At)
			}
			ended := c.endedAfterDumps(t, orig)
			if ended.ID != started.ID || ended.Reply != started.Reply {
				t.Errorf("ended %+v does not match started %+v", ended, started)
			}
			checkTCPCounters(t, "original direction", ended.OrigPackets, ended.OrigBytes, sent, dst)
			checkTCPCounters(t, "reply direction", ended.ReplyPackets, ended.ReplyBytes, replied, dst)
			t.Logf("ended: %d packets/%d bytes sent, %d/%d replied", ended.OrigPackets, ended.OrigBytes, ended.ReplyPackets, ended.ReplyBytes)
		})
	}
}

// TestUDPDeleted: a UDP exchange is Started, and Ended when its entry is
// deleted (conntrack -D), with exact counters: one datagram each way of
// the payload plus IP and UDP headers.
func TestUDPDeleted(t *testing.T) {
	p := setup(t)
	netnstest.RequireBinaries(t, "conntrack")
	const port, sent, replied = 5353, 1000, 500
	var pc net.PacketConn
	inNS(t, p.server, func() (err error) {
		pc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		return err
	})
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(make([]byte, replied), from)
		}
	}()
	c := start(t, Config{NetNS: p.client})
	for _, dst := range []netip.Addr{server4, server6} {
		t.Run(map[bool]string{true: "IPv4", false: "IPv6"}[dst.Is4()], func(t *testing.T) {
			var orig event.Tuple
			inNS(t, p.client, func() error {
				conn, err := net.Dial("udp", netip.AddrPortFrom(dst, port).String())
				if err != nil {
					return err
				}
				defer conn.Close()
				orig = tupleOf(event.ProtoUDP, conn.LocalAddr(), conn.RemoteAddr())
				if _, err := conn.Write(make([]byte, sent)); err != nil {
					return err
				}
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := conn.Read(make([]byte, 65536))
				if err == nil && n != replied {
					err = fmt.Errorf("read %d bytes, want %d", n, replied)
				}
				return err
			})
			started := c.await(t, event.ConnStarted, orig)
			if started.Reply != orig.Reverse() {
				t.Errorf("started: reply tuple %s, want %s", started.Reply, orig.Reverse())
			}
			family := "ipv4"
			if dst.Is6() {
				family = "ipv6"
			}
			netnstest.Run(t, append(netnstest.Exec(p.client), "conntrack", "-D", "-f", family, "-p", "udp",
				"--sport", fmt.Sprint(orig.SrcPort), "--dport", fmt.Sprint(port))...)
			ended := c.await(t, event.ConnEnded, orig)
			header := uint64(20 + 8)
			if dst.Is6() {
				header = 40 + 8
			}
			want := event.Conn{Kind: event.ConnEnded, ID: started.ID, Orig: orig, Reply: orig.Reverse(),
				OrigPackets: 1, OrigBytes: sent + header, ReplyPackets: 1, ReplyBytes: replied + header, At: ended.At}
			if ended != want {
				t.Errorf("ended:\n got %+v\nwant %+v", ended, want)
			}
		})
	}
}

// TestDNATAndICMP: a connection to a DNAT-ed service address shows the
// service as the original destination and the backend as the reply's
// source; ICMP has no ports.
func TestDNATAndICMP(t *testing.T) {
	p := setup(t)
	tcpServer(t, p.server, 10)
	c := start(t, Config{NetNS: p.client})
	var orig event.Tuple
	inNS(t, p.client, func() error {
		conn, err := net.Dial("tcp", netip.AddrPortFrom(service4, servicePort).String())
		if err != nil {
			return err
		}
		defer conn.Close()
		orig = tupleOf(event.ProtoTCP, conn.LocalAddr(), conn.RemoteAddr())
		return nil
	})
	started := c.await(t, event.ConnStarted, orig)
	wantReply := event.Tuple{Proto: event.ProtoTCP, Src: server4, SrcPort: serverPort, Dst: client4, DstPort: orig.SrcPort}
	if orig.Dst != service4 || orig.DstPort != servicePort || started.Reply != wantReply {
		t.Errorf("DNAT: orig %s reply %s; want orig to %s:%d, reply %s", started.Orig, started.Reply, service4, servicePort, wantReply)
	}

	res, err := probe.Connect(p.client, "ICMP", server6.String(), 0, 5*time.Second)
	if err != nil || !res.Connected {
		t.Fatalf("ping %s: %+v, %v", server6, res, err)
	}
	ping := c.await(t, event.ConnStarted, event.Tuple{Proto: event.ProtoICMPv6, Src: client6, Dst: server6})
	if ping.Reply != (event.Tuple{Proto: event.ProtoICMPv6, Src: server6, Dst: client6}) {
		t.Errorf("ICMPv6 reply tuple %s", ping.Reply)
	}
}

// TestDumpCounters: Dump lists a live connection, with the ID its
// Started had, and its counters grow with what is sent.
func TestDumpCounters(t *testing.T) {
	p := setup(t)
	tcpServer(t, p.server, 0)
	c := start(t, Config{NetNS: p.client})
	var conn net.Conn
	inNS(t, p.client, func() (err error) {
		conn, err = net.Dial("tcp", netip.AddrPortFrom(server4, serverPort).String())
		return err
	})
	defer conn.Close()
	orig := tupleOf(event.ProtoTCP, conn.LocalAddr(), conn.RemoteAddr())
	started := c.await(t, event.ConnStarted, orig)

	find := func() event.Conn {
		t.Helper()
		conns, err := c.r.Dump(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range conns {
			if ev.Orig == orig {
				return ev
			}
		}
		t.Fatalf("dump of %d entries lacks %s", len(conns), orig)
		return event.Conn{}
	}
	before := find()
	if before.Kind != event.ConnCounters || before.ID != started.ID || before.Reply != orig.Reverse() {
		t.Errorf("dumped %+v; want counters of %+v", before, started)
	}
	const chunk = 20000
	for i := 1; i <= 3; i++ {
		if _, err := conn.Write(make([]byte, chunk)); err != nil {
			t.Fatal(err)
		}
		// The server reads it all: its acknowledgements come back.
		var now event.Conn
		var last string
		poll.Until(t, 5*time.Second, "the dump to count what was sent", func() bool {
			now = find()
			last = fmt.Sprintf("last: %+v", now)
			return now.OrigBytes >= before.OrigBytes+chunk && now.ReplyPackets > before.ReplyPackets
		}, &last)
		if now.OrigPackets <= before.OrigPackets || now.OrigBytes > before.OrigBytes+chunk+100*(now.OrigPackets-before.OrigPackets) {
			t.Errorf("round %d: counters went from %+v to %+v for %d bytes", i, before, now, chunk)
		}
		before = now
	}
}

// TestOverflow: with a tiny socket buffer and no one reading, events are
// lost; the Reader counts the overflow, keeps going, and delivers what
// comes next.
func TestOverflow(t *testing.T) {
	p := setup(t)
	r, err := New(Config{NetNS: p.client, ReadBuffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const flows = 200
	inNS(t, p.client, func() error {
		for i := 0; i < flows; i++ {
			conn, err := net.Dial("udp", netip.AddrPortFrom(server4, 9).String())
			if err != nil {
				return err
			}
			_, _ = conn.Write([]byte("x"))
			conn.Close()
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan event.Conn, flows)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, out) }()
	var delivered int
	poll.Until(t, 5*time.Second, "an overflow to be counted", func() bool {
		for len(out) > 0 {
			<-out
			delivered++
		}
		return r.Stats().Overflows > 0
	})
	// After the overflow, new events still arrive.
	var orig event.Tuple
	inNS(t, p.client, func() error {
		conn, err := net.Dial("udp", netip.AddrPortFrom(server4, 10).String())
		if err != nil {
			return err
		}
		defer conn.Close()
		orig = tupleOf(event.ProtoUDP, conn.LocalAddr(), conn.RemoteAddr())
		_, err = conn.Write([]byte("after"))
		return err
	})
	poll.Until(t, 5*time.Second, "an event after the overflow", func() bool {
		for {
			select {
			case ev := <-out:
				delivered++
				if ev.Kind == event.ConnStarted && ev.Orig == orig {
					return true
				}
			default:
				return false
			}
		}
	})
	st := r.Stats()
	if delivered >= flows || st.Started != uint64(delivered) {
		t.Errorf("delivered %d of %d flows' events, stats %+v: want some lost and the rest counted", delivered, flows+1, st)
	}
	t.Logf("%d events delivered of %d, %d overflows", delivered, flows+1, st.Overflows)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
	if _, err := r.Dump(context.Background()); err != nil {
		t.Errorf("Dump after Run ended: %v", err)
	}
	r.Close()
	if _, err := r.Dump(context.Background()); err == nil {
		t.Errorf("Dump after Close succeeded")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestRunOnce: Run runs once per Reader; a missing namespace is an
// error.
func TestRunOnce(t *testing.T) {
	p := setup(t)
	c := start(t, Config{NetNS: p.client})
	poll.Until(t, 5*time.Second, "Run to start", c.r.running.Load)
	if err := c.r.Run(context.Background(), make(chan event.Conn)); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
	if _, err := New(Config{NetNS: "cngt-no-such-namespace"}); err == nil {
		t.Errorf("New in a missing namespace succeeded")
	}
}
