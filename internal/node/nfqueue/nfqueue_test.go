package nfqueue

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
)

// TestHoldAndRelease: UDP datagrams to a port are queued; none arrives
// while held, an accepted one arrives, a dropped one never does.
func TestHoldAndRelease(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireBinaries(t, "iptables")
	ns := netnstest.New(t, "nfq")
	netnstest.Run(t, append(netnstest.Exec(ns), "ip", "link", "set", "lo", "up")...)
	// nft's own queue statement is not in every kernel (nft_queue);
	// iptables' NFQUEUE target is, as calico-node uses it.
	netnstest.Run(t, append(netnstest.Exec(ns), "iptables", "-A", "INPUT", "-p", "udp", "--dport", "5353",
		"-j", "NFQUEUE", "--queue-num", "7", "--queue-bypass")...)

	q, err := Open(Config{Num: 7, NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := Open(Config{Num: 7, NetNS: ns}); err == nil {
		t.Error("a second reader bound the same queue")
	}
	held := make(chan Packet, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, func(p Packet) { held <- p }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	var srv, cli net.PacketConn
	if err := probe.InNamespace(ns, func() (err error) {
		if srv, err = net.ListenPacket("udp4", "127.0.0.1:5353"); err != nil {
			return err
		}
		cli, err = net.ListenPacket("udp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer cli.Close()
	send := func(msg string) Packet {
		t.Helper()
		if _, err := cli.WriteTo([]byte(msg), srv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-held:
			// Kernels built with NETFILTER_NETLINK_GLUE_CT give the
			// conntrack entry; others none.
			if p.ReplySrc.IsValid() && p.ReplySrc != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("conntrack reply source %v, want 127.0.0.1", p.ReplySrc)
			}
			if got := string(p.Payload[28:]); got != msg {
				t.Fatalf("held payload %q, want %q", got, msg)
			}
			return p
		case <-time.After(5 * time.Second):
			t.Fatalf("%q was not queued", msg)
		}
		return Packet{}
	}
	recv := func(wait time.Duration) (string, bool) {
		buf := make([]byte, 64)
		_ = srv.SetReadDeadline(time.Now().Add(wait))
		n, _, err := srv.ReadFrom(buf)
		return string(buf[:n]), err == nil
	}

	p := send("first")
	if got, ok := recv(200 * time.Millisecond); ok {
		t.Fatalf("%q arrived while held", got)
	}
	if err := q.SetVerdict(p.ID, Accept); err != nil {
		t.Fatal(err)
	}
	if got, ok := recv(5 * time.Second); !ok || got != "first" {
		t.Fatalf("after accept: %q %v", got, ok)
	}
	p = send("second")
	if err := q.SetVerdict(p.ID, Drop); err != nil {
		t.Fatal(err)
	}
	if got, ok := recv(300 * time.Millisecond); ok {
		t.Fatalf("%q arrived after a drop", got)
	}
	// With the reader gone, bypass lets packets through.
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	done <- nil
	if _, err := cli.WriteTo([]byte("unread"), srv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got, ok := recv(5 * time.Second); !ok || got != "unread" {
		t.Fatalf("without a reader: %q %v", got, ok)
	}
}
