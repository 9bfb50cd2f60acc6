package calc

import (
	"net/netip"
	"testing"

	"github.com/calicong/calico/internal/proto"
)

func TestRuleMatchesPacketFields(t *testing.T) {
	g := New(Config{}, func([]proto.Message) {})
	pkt := func(src string, protocol uint8, port uint16, icmpType, icmpCode int) Packet {
		return Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("10.0.0.1"), Protocol: protocol,
			SrcPort: 40000, DstPort: port, ICMPType: icmpType, ICMPCode: icmpCode}
	}
	tcp80 := pkt("10.0.0.2", 6, 80, -1, -1)
	echo := pkt("10.0.0.2", 1, 0, 8, 0)
	v6 := Packet{Src: netip.MustParseAddr("fd00::2"), Dst: netip.MustParseAddr("fd00::1"), Protocol: 6, DstPort: 80, ICMPType: -1}
	cases := []struct {
		name string
		rule proto.Rule
		pkt  Packet
		want bool
	}{
		{"empty rule matches anything", proto.Rule{}, tcp80, true},
		{"protocol", proto.Rule{Protocol: 17}, tcp80, false},
		{"notProtocol", proto.Rule{NotProtocol: 6}, tcp80, false},
		{"notProtocol other", proto.Rule{NotProtocol: 17}, tcp80, true},
		{"ipVersion 6 on v4", proto.Rule{IPVersion: 6}, tcp80, false},
		{"ipVersion 6 on v6", proto.Rule{IPVersion: 6}, v6, true},
		{"icmp type", proto.Rule{Protocol: 1, ICMP: &proto.ICMPMatch{Type: 8, Code: -1}}, echo, true},
		{"icmp other type", proto.Rule{Protocol: 1, ICMP: &proto.ICMPMatch{Type: 0, Code: -1}}, echo, false},
		{"icmp code", proto.Rule{Protocol: 1, ICMP: &proto.ICMPMatch{Type: 8, Code: 1}}, echo, false},
		{"notICMP", proto.Rule{Protocol: 1, NotICMP: &proto.ICMPMatch{Type: 8, Code: -1}}, echo, false},
		{"dst port range", proto.Rule{Protocol: 6, Dst: &proto.RuleSide{Ports: []proto.PortRange{{Min: 79, Max: 81}}}}, tcp80, true},
		{"dst notPorts", proto.Rule{Protocol: 6, Dst: &proto.RuleSide{NotPorts: []proto.PortRange{{Min: 80, Max: 80}}}}, tcp80, false},
		{"src port", proto.Rule{Protocol: 6, Src: &proto.RuleSide{Ports: []proto.PortRange{{Min: 80, Max: 80}}}}, tcp80, false},
		{"src nets", proto.Rule{Src: &proto.RuleSide{Nets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}}, tcp80, true},
		{"src nets miss", proto.Rule{Src: &proto.RuleSide{Nets: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}}}, tcp80, false},
		{"src notNets", proto.Rule{Src: &proto.RuleSide{NotNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}}}, tcp80, false},
		{"dst nets", proto.Rule{Dst: &proto.RuleSide{Nets: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}}, tcp80, true},
		{"unknown set never matches", proto.Rule{Src: &proto.RuleSide{IPSetIDs: []string{"s:nope"}}}, tcp80, false},
		{"unknown not-set always passes", proto.Rule{Src: &proto.RuleSide{NotIPSetIDs: []string{"s:nope"}}}, tcp80, true},
	}
	for _, c := range cases {
		if got := g.ruleMatches(&c.rule, c.pkt); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
