package nflog

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/node/flowlogs/event"
)

var (
	a4, b4 = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	a6, b6 = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:ff::2")
)

// ipv4 builds an IPv4 header (with optional options words) claiming a
// total length, followed by l4.
func ipv4(proto uint8, total int, fragOff uint16, optWords int, l4 []byte) []byte {
	h := make([]byte, 20+4*optWords)
	h[0] = 0x40 | byte(5+optWords)
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	binary.BigEndian.PutUint16(h[6:], fragOff)
	h[8], h[9] = 64, proto
	copy(h[12:], a4.AsSlice())
	copy(h[16:], b4.AsSlice())
	return append(h, l4...)
}

// ipv6 builds an IPv6 header with a payload length, followed by ext
// (extension headers) and l4.
func ipv6(next uint8, payloadLen int, ext, l4 []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(payloadLen))
	h[6], h[7] = next, 64
	copy(h[8:], a6.AsSlice())
	copy(h[24:], b6.AsSlice())
	return append(append(h, ext...), l4...)
}

var a4Time = time.Unix(1700000000, 0)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func ports(src, dst uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, src)
	binary.BigEndian.PutUint16(b[2:], dst)
	return b
}

func TestParsePacket(t *testing.T) {
	tcp := event.ProtoTCP
	for _, c := range []struct {
		name  string
		pkt   []byte
		tuple event.Tuple
		size  int
		err   string
	}{
		{name: "ipv4 tcp", pkt: ipv4(tcp, 1500, 0, 0, ports(40000, 80)),
			tuple: event.Tuple{Proto: tcp, Src: a4, Dst: b4, SrcPort: 40000, DstPort: 80}, size: 1500},
		{name: "ipv4 with options, udp", pkt: ipv4(event.ProtoUDP, 60, 0, 2, ports(53, 5353)),
			tuple: event.Tuple{Proto: event.ProtoUDP, Src: a4, Dst: b4, SrcPort: 53, DstPort: 5353}, size: 60},
		{name: "ipv4 sctp", pkt: ipv4(event.ProtoSCTP, 100, 0, 0, ports(1, 2)),
			tuple: event.Tuple{Proto: event.ProtoSCTP, Src: a4, Dst: b4, SrcPort: 1, DstPort: 2}, size: 100},
		{name: "ipv4 first fragment has ports", pkt: ipv4(tcp, 1500, 0x2000, 0, ports(1, 2)),
			tuple: event.Tuple{Proto: tcp, Src: a4, Dst: b4, SrcPort: 1, DstPort: 2}, size: 1500},
		{name: "ipv4 later fragment has none", pkt: ipv4(tcp, 1500, 185, 0, ports(1, 2)),
			tuple: event.Tuple{Proto: tcp, Src: a4, Dst: b4}, size: 1500},
		{name: "ipv4 icmp", pkt: ipv4(event.ProtoICMP, 84, 0, 0, []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1}),
			tuple: event.Tuple{Proto: event.ProtoICMP, Src: a4, Dst: b4}, size: 84},
		{name: "ipv4 copy ends before ports", pkt: ipv4(tcp, 1500, 0, 0, []byte{1, 2}),
			tuple: event.Tuple{Proto: tcp, Src: a4, Dst: b4}, size: 1500},
		{name: "ipv6 tcp", pkt: ipv6(tcp, 1000, nil, ports(40000, 443)),
			tuple: event.Tuple{Proto: tcp, Src: a6, Dst: b6, SrcPort: 40000, DstPort: 443}, size: 1040},
		{name: "ipv6 hop-by-hop, destination options, udp",
			pkt:   ipv6(0, 200, append([]byte{60, 0, 1, 4, 0, 0, 0, 0}, 17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), ports(7, 8)),
			tuple: event.Tuple{Proto: event.ProtoUDP, Src: a6, Dst: b6, SrcPort: 7, DstPort: 8}, size: 240},
		{name: "ipv6 first fragment", pkt: ipv6(44, 1400, []byte{tcp, 0, 0, 1, 0, 0, 0, 9}, ports(5, 6)),
			tuple: event.Tuple{Proto: tcp, Src: a6, Dst: b6, SrcPort: 5, DstPort: 6}, size: 1440},
		{name: "ipv6 later fragment", pkt: ipv6(44, 1400, []byte{tcp, 0, 0x05, 0x68, 0, 0, 0, 9}, ports(5, 6)),
			tuple: event.Tuple{Proto: tcp, Src: a6, Dst: b6}, size: 1440},
		{name: "ipv6 icmpv6", pkt: ipv6(event.ProtoICMPv6, 64, nil, []byte{128, 0, 0, 0, 1, 2, 3, 4}),
			tuple: event.Tuple{Proto: event.ProtoICMPv6, Src: a6, Dst: b6}, size: 104},
		{name: "empty", pkt: nil, err: "empty"},
		{name: "short ipv4", pkt: ipv4(tcp, 40, 0, 0, nil)[:19], err: "truncated"},
		{name: "short ipv6", pkt: ipv6(tcp, 40, nil, nil)[:39], err: "truncated"},
		{name: "bad ihl", pkt: append([]byte{0x44}, make([]byte, 30)...), err: "header length"},
		{name: "not ip", pkt: []byte{0x20, 0, 0, 0}, err: "version 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tuple, size, err := ParsePacket(c.pkt)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil || tuple != c.tuple || size != c.size {
				t.Errorf("got %s, %d, %v; want %s, %d", tuple, size, err, c.tuple, c.size)
			}
		})
	}
}

// TestParseBatch feeds a hand-built batch: reports are decoded,
// sequence gaps counted as lost, an acknowledgement recognised and a
// malformed report skipped.
func TestParseBatch(t *testing.T) {
	r := &Reader{prefixes: map[string]string{}}
	r.log = discard()
	var batch []byte
	add := func(typ uint16, seq uint32, data []byte) {
		m := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(data)+3)
		binary.NativeEndian.PutUint32(m, uint32(nlmsgHdrLen+len(data)))
		binary.NativeEndian.PutUint16(m[4:], typ)
		binary.NativeEndian.PutUint32(m[8:], seq)
		m = append(m, data...)
		for len(m)%4 != 0 {
			m = append(m, 0)
		}
		batch = append(batch, m...)
	}
	attr := func(typ uint16, v []byte) []byte {
		a := make([]byte, 4, 4+len(v)+3)
		binary.NativeEndian.PutUint16(a, uint16(4+len(v)))
		binary.NativeEndian.PutUint16(a[2:], typ)
		a = append(a, v...)
		for len(a)%4 != 0 {
			a = append(a, 0)
		}
		return a
	}
	report := func(seq uint32, prefix string, pkt []byte) []byte {
		d := []byte{2, 0, 0, 7} // nfgenmsg: AF_INET, v0, group 7
		d = append(d, attr(attrPacketHdr, []byte{0x08, 0x00, event.HookForward, 0})...)
		d = append(d, attr(attrMark, []byte{0, 4, 0, 1})...)
		d = append(d, attr(attrPrefix, append([]byte(prefix), 0))...)
		s := make([]byte, 4)
		binary.BigEndian.PutUint32(s, seq)
		d = append(d, attr(attrSeq, s)...)
		return append(d, attr(attrPayload, pkt)...)
	}
	pkt := ipv4(event.ProtoTCP, 60, 0, 0, ports(1234, 80))
	ackErr := make([]byte, 20)
	add(2, 99, ackErr) // NLMSG_ERROR 0: the acknowledgement of request 99
	add(subsysULOG<<8|msgPacket, 0, report(0, "AI0|pi-a", pkt))
	add(subsysULOG<<8|msgPacket, 0, report(3, "DI|tier default", pkt)) // 1 and 2 lost
	add(subsysULOG<<8|msgPacket, 0, report(4, "AI0|pi-a", []byte{0x70}))
	add(subsysULOG<<8|msgPacket, 0, report(5, "AI0|pi-a", pkt))
	var got []event.Verdict
	acked, err := r.parseBatch(batch, a4Time, 99, func(v event.Verdict) bool { got = append(got, v); return true })
	if err != nil || !acked {
		t.Fatalf("acked %v, err %v", acked, err)
	}
	want := event.Tuple{Proto: event.ProtoTCP, Src: a4, Dst: b4, SrcPort: 1234, DstPort: 80}
	if len(got) != 3 || got[0].Prefix != "AI0|pi-a" || got[1].Prefix != "DI|tier default" || got[2].Prefix != "AI0|pi-a" {
		t.Fatalf("got %+v", got)
	}
	for _, v := range got {
		if v.Tuple != want || v.Bytes != 60 || v.At != a4Time || v.Hook != event.HookForward || v.Mark != 0x40001 {
			t.Errorf("verdict %+v; want tuple %s, 60 bytes, hook forward, mark 0x40001", v, want)
		}
	}
	if st := r.Stats(); st.Lost != 2 || st.ParseErrors != 1 || st.Verdicts != 3 {
		t.Errorf("stats %+v; want 2 lost, 1 parse error, 3 verdicts", st)
	}

	// A refusal of the request is its error.
	batch = nil
	refused := make([]byte, 20)
	binary.NativeEndian.PutUint32(refused, uint32(-1&0xffffffff)) // -EPERM
	add(2, 100, refused)
	if _, err := r.parseBatch(batch, a4Time, 100, func(event.Verdict) bool { return true }); err == nil || !strings.Contains(err.Error(), "not permitted") {
		t.Errorf("refusal: %v", err)
	}
}
