package filter

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"

	v3 "github.com/calicong/calico/api/v3"
)

// frame builds an Ethernet frame with an IPv4 or IPv6 header and the
// first bytes of a transport header (source and destination ports).
func frame(v6 bool, proto uint8, src, dst uint16, fragOffset uint16) []byte {
	eth := make([]byte, 14)
	var ip []byte
	if v6 {
		binary.BigEndian.PutUint16(eth[12:], etherIPv6)
		ip = make([]byte, 40)
		ip[0] = 0x60
		ip[6] = proto
	} else {
		binary.BigEndian.PutUint16(eth[12:], etherIPv4)
		ip = make([]byte, 24) // with 4 bytes of options: the ports move
		ip[0] = 0x46
		ip[9] = proto
		binary.BigEndian.PutUint16(ip[6:], fragOffset)
	}
	l4 := make([]byte, 20)
	binary.BigEndian.PutUint16(l4[0:], src)
	binary.BigEndian.PutUint16(l4[2:], dst)
	return append(append(eth, ip...), l4...)
}

func rule(proto string, ports ...string) v3.PacketCaptureRule {
	var r v3.PacketCaptureRule
	if proto != "" {
		p := v3.ProtocolFromString(proto)
		r.Protocol = &p
	}
	for _, s := range ports {
		p, err := v3.ParsePort(s)
		if err != nil {
			panic(err)
		}
		r.Ports = append(r.Ports, p)
	}
	return r
}

func TestCompile(t *testing.T) {
	const tcp, udp, icmp, icmp6 = 6, 17, 1, 58
	cases := []struct {
		name  string
		rules []v3.PacketCaptureRule
		keep  map[string][]byte
		drop  map[string][]byte
	}{
		{"no filters keep everything", nil,
			map[string][]byte{"udp": frame(false, udp, 1, 53, 0), "arp-ish": make([]byte, 60)}, nil},
		{"TCP to 8080 only", []v3.PacketCaptureRule{rule("TCP", "8080")},
			map[string][]byte{"tcp to 8080": frame(false, tcp, 40000, 8080, 0), "tcp from 8080": frame(false, tcp, 8080, 40000, 0),
				"tcp6 to 8080": frame(true, tcp, 40000, 8080, 0)},
			map[string][]byte{"udp to 5353": frame(false, udp, 40000, 5353, 0), "udp to 8080": frame(false, udp, 40000, 8080, 0),
				"tcp to 80": frame(false, tcp, 40000, 80, 0), "a later fragment": frame(false, tcp, 40000, 8080, 100),
				"not IP": make([]byte, 60)}},
		{"a range, OR'ed with ICMP", []v3.PacketCaptureRule{rule("UDP", "5000:5010", "53"), rule("ICMP")},
			map[string][]byte{"udp 5000": frame(false, udp, 1, 5000, 0), "udp 5010": frame(false, udp, 5010, 1, 0),
				"udp 53": frame(true, udp, 1, 53, 0), "icmp": frame(false, icmp, 0, 0, 0)},
			map[string][]byte{"udp 5011": frame(false, udp, 1, 5011, 0), "udp 4999": frame(false, udp, 4999, 1, 0),
				"icmp in IPv6 (it is not ICMPv6)": frame(true, icmp, 0, 0, 0), "icmpv6": frame(true, icmp6, 0, 0, 0)}},
		{"a protocol by number", []v3.PacketCaptureRule{{Protocol: func() *v3.Protocol { p := v3.ProtocolFromInt(132); return &p }()}},
			map[string][]byte{"sctp": frame(false, 132, 1, 2, 0)}, map[string][]byte{"tcp": frame(false, tcp, 1, 2, 0)}},
	}
	for _, c := range cases {
		prog, err := Compile(c.rules)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for what, pkt := range c.keep {
			if n, err := vm.Run(pkt); err != nil || n == 0 {
				t.Errorf("%s: %s dropped (%v)", c.name, what, err)
			}
		}
		for what, pkt := range c.drop {
			if n, err := vm.Run(pkt); err != nil || n != 0 {
				t.Errorf("%s: %s kept (%v)", c.name, what, err)
			}
		}
	}
}

// TestManyPorts: a rule with more ports than a conditional jump reaches
// still compiles, and its last port matches.
func TestManyPorts(t *testing.T) {
	var ports []string
	for p := 1000; p < 1300; p++ {
		ports = append(ports, itoa(p))
	}
	prog, err := Compile([]v3.PacketCaptureRule{rule("TCP", ports...), rule("UDP", "53")})
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pkt  []byte
		keep bool
	}{{frame(false, 6, 1, 1299, 0), true}, {frame(true, 6, 1299, 1, 0), true}, {frame(false, 17, 1, 53, 0), true}, {frame(false, 6, 1, 1300, 0), false}} {
		if n, _ := vm.Run(c.pkt); (n > 0) != c.keep {
			t.Errorf("packet %x: kept %v, want %v", c.pkt[:40], n > 0, c.keep)
		}
	}
}

func TestRefuses(t *testing.T) {
	if _, err := Compile([]v3.PacketCaptureRule{rule("ICMP", "80")}); err == nil {
		t.Error("ports with ICMP compiled")
	}
	if _, err := Compile([]v3.PacketCaptureRule{{Ports: []v3.Port{v3.SinglePort(80)}}}); err == nil {
		t.Error("ports without a protocol compiled")
	}
	if _, err := Compile([]v3.PacketCaptureRule{rule("TCP", "http")}); err == nil {
		t.Error("a named port compiled")
	}
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
