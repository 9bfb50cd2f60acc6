package dnssnoop

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func answer(t testing.TB) []byte {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion("www.example.test.", dns.TypeA)
	m := new(dns.Msg)
	m.SetReply(q)
	for _, s := range []string{
		"www.example.test. 300 IN CNAME edge.example.test.",
		"edge.example.test. 60 IN A 192.0.2.10",
		"edge.example.test. 60 IN A 192.0.2.11",
		"edge.example.test. 60 IN AAAA 2001:db8::10",
		`edge.example.test. 60 IN TXT "hello"`,
	} {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func udp(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	u = append(u, payload...)
	if src.Is4() {
		h := make([]byte, 20)
		h[0], h[8], h[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(u)))
		s, d := src.As4(), dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		return append(h, u...)
	}
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, 17, 64
	binary.BigEndian.PutUint16(h[4:], uint16(len(u)))
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, u...)
}

func TestParsePacket(t *testing.T) {
	for _, fam := range []struct{ server, client string }{{"10.96.0.10", "10.65.0.5"}, {"fd00:96::a", "fd00:65::5"}} {
		server, client := netip.MustParseAddr(fam.server), netip.MustParseAddr(fam.client)
		r, err := ParsePacket(udp(server, client, 53, 40123, answer(t)))
		if err != nil {
			t.Fatalf("%s: %v", fam.server, err)
		}
		if r.Server != server || r.Client != client || r.ServerPort != 53 || r.ClientPort != 40123 {
			t.Errorf("ends %v:%d → %v:%d", r.Server, r.ServerPort, r.Client, r.ClientPort)
		}
		if r.Name != "www.example.test" || r.Type != "A" || r.Class != "IN" || r.Rcode != "NOERROR" {
			t.Errorf("question %q %q %q, rcode %q", r.Name, r.Type, r.Class, r.Rcode)
		}
		// The cache's records: the CNAME and the three addresses, with
		// their TTLs; the TXT only in the logs' rrsets.
		if len(r.Records) != 4 || r.Records[0].Target != "edge.example.test." || r.Records[0].TTL != 300*time.Second ||
			r.Records[1].Addr != netip.MustParseAddr("192.0.2.10") || r.Records[1].TTL != time.Minute || r.Records[3].Addr != netip.MustParseAddr("2001:db8::10") {
			t.Errorf("records %+v", r.Records)
		}
		var sets []string
		for _, s := range r.RRSets {
			sets = append(sets, s.Name+" "+s.Type+" "+s.Class)
		}
		if !slices.Equal(sets, []string{"www.example.test CNAME IN", "edge.example.test A IN", "edge.example.test AAAA IN", "edge.example.test TXT IN"}) ||
			!slices.Equal(r.RRSets[1].RData, []string{"192.0.2.10", "192.0.2.11"}) || r.RRSets[3].RData[0] != `"hello"` {
			t.Errorf("rrsets %+v", r.RRSets)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("www.example.test.", dns.TypeA)
	query, _ := q.Pack()
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	tcp := udp(a, b, 53, 4000, answer(t))
	tcp[9] = 6
	for name, pkt := range map[string][]byte{
		"a query":        udp(a, b, 4000, 53, query),
		"TCP":            tcp,
		"truncated":      udp(a, b, 53, 4000, answer(t))[:30],
		"garbage":        udp(a, b, 53, 4000, []byte("not dns at all")),
		"not IP":         {0x12, 0x34},
		"a bad UDP size": append(udp(a, b, 53, 4000, nil)[:24], 0xff, 0xff, 0, 0),
	} {
		if _, err := ParsePacket(pkt); !errors.Is(err, ErrNotDNS) {
			t.Errorf("%s: %v, want ErrNotDNS", name, err)
		}
	}
}

func FuzzParsePacket(f *testing.F) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")
	f.Add(udp(a, a, 53, 4000, []byte{0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}))
	f.Add(udp(b, b, 53, 4000, []byte{0, 0}))
	f.Add(udp(a, a, 53, 4000, answer(f)))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		_, _ = ParsePacket(pkt) // never panics
	})
}

func TestParseQuery(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("www.example.test.", dns.TypeA)
	q.Id = 4242
	query, _ := q.Pack()
	cli, srv := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	got, err := ParseQuery(udp(cli, srv, 40000, 53, query))
	if err != nil || got != (Query{Client: cli, Server: srv, ClientPort: 40000, ServerPort: 53, ID: 4242}) {
		t.Errorf("query: %+v, %v", got, err)
	}
	if _, err := ParseQuery(udp(srv, cli, 53, 40000, answer(t))); !errors.Is(err, ErrNotQuery) {
		t.Errorf("an answer as a query: %v", err)
	}
}
