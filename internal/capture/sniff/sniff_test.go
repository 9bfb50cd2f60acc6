package sniff

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/capture/filter"
	"github.com/calicong/calico/internal/capture/rotate"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
)

var client, server = netip.MustParseAddr("10.66.0.1"), netip.MustParseAddr("10.66.0.2")

// TestCaptureTCP8080: on a real veth, a socket filtered to TCP port 8080
// gets the TCP packets to and from 8080, and none of the UDP to 5353
// sent meanwhile; written through rotate, the pcap file reads back with
// the same packets.
func TestCaptureTCP8080(t *testing.T) {
	netnstest.Require(t)
	clientNS, serverNS := netnstest.New(t, "pcc"), netnstest.New(t, "pcs")
	netnstest.Run(t, "ip", "-n", clientNS, "link", "add", "vc", "type", "veth", "peer", "name", "vs", "netns", serverNS)
	for _, side := range []struct {
		ns, dev string
		a       netip.Addr
	}{{clientNS, "vc", client}, {serverNS, "vs", server}} {
		netnstest.Run(t, "ip", "-n", side.ns, "addr", "add", side.a.String()+"/24", "dev", side.dev)
		netnstest.Run(t, "ip", "-n", side.ns, "link", "set", side.dev, "up")
	}
	tcp := v3.ProtocolFromString("TCP")
	prog, err := filter.Compile([]v3.PacketCaptureRule{{Protocol: &tcp, Ports: []v3.Port{v3.SinglePort(8080)}}})
	if err != nil {
		t.Fatal(err)
	}
	var s *Socket
	if err := probe.InNamespace(serverNS, func() (err error) { s, err = Open("vs", prog); return err }); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A server on 8080; the client connects and sends, and sends UDP to
	// 5353 between.
	var l net.Listener
	if err := probe.InNamespace(serverNS, func() (err error) { l, err = net.Listen("tcp", server.String()+":8080"); return err }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			c.Write(buf[:n])
			c.Close()
		}
	}()
	err = probe.InNamespace(clientNS, func() error {
		for range 3 {
			u, err := net.Dial("udp", server.String()+":5353")
			if err != nil {
				return err
			}
			u.Write([]byte("not captured"))
			u.Close()
			c, err := net.DialTimeout("tcp", server.String()+":8080", 2*time.Second)
			if err != nil {
				return err
			}
			c.Write([]byte("captured"))
			buf := make([]byte, 64)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			c.Read(buf)
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	w := &rotate.Writer{Dir: dir, Base: "web-0_vs"}
	done := make(chan struct{})
	time.AfterFunc(1500*time.Millisecond, func() { close(done) })
	var got int
	for {
		pkt, ci, err := s.Next(done)
		if err == ErrClosed {
			break
		}
		if err == ErrIdle {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ci, pkt); err != nil {
			t.Fatal(err)
		}
		got++
	}
	w.Close()
	// 3 connections: SYN, SYN-ACK, ACK, data both ways with ACKs, FINs:
	// well over 15 packets, all TCP on 8080.
	if got < 15 {
		t.Fatalf("captured %d packets, want the three connections' (15 or more)", got)
	}
	file, err := os.Open(filepath.Join(dir, w.Current()))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	f, err := pcapgo.NewReader(file)
	if err != nil {
		t.Fatal(err)
	}
	var n, payload int
	for {
		data, _, err := f.ReadPacketData()
		if err != nil {
			break
		}
		n++
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || (tl.DstPort != 8080 && tl.SrcPort != 8080) {
			t.Fatalf("a captured packet is not TCP on 8080: %v", p)
		}
		if string(tl.Payload) == "captured" {
			payload++
		}
	}
	// The client's data and the server's echo of it, three times.
	if n != got || payload != 6 {
		t.Errorf("the pcap file holds %d packets (%d written), %d with the data (want 6: sent and echoed, 3 times)", n, got, payload)
	}
	if rcv, drop, err := s.Stats(); err != nil || drop != 0 || rcv < uint32(got) {
		t.Errorf("kernel stats: %d received, %d dropped (%v)", rcv, drop, err)
	}
}
