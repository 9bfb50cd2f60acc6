package v3

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPortJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    Port
		out     string // re-encoded form
		wantErr string // substring of Validate's error; "" means valid
	}{
		{in: `80`, want: SinglePort(80), out: `80`},
		{in: `"80"`, want: SinglePort(80), out: `80`},
		{in: `0`, want: SinglePort(0), out: `0`},
		{in: `65535`, want: SinglePort(65535), out: `65535`},
		{in: `"1000:2000"`, want: Port{MinPort: 1000, MaxPort: 2000}, out: `"1000:2000"`},
		{in: `"5:5"`, want: SinglePort(5), out: `5`},
		{in: `"http"`, want: NamedPort("http"), out: `"http"`},
		{in: `"web-metrics.v1_x"`, want: NamedPort("web-metrics.v1_x"), out: `"web-metrics.v1_x"`},
		{in: `65536`, want: Port{PortName: "65536"}, out: `"65536"`, wantErr: "out of range"},
		{in: `-1`, want: Port{PortName: "-1"}, out: `"-1"`, wantErr: "is not a port"},
		{in: `1.5`, want: Port{PortName: "1.5"}, out: `"1.5"`, wantErr: "at least one letter"},
		{in: `"2000:1000"`, want: Port{PortName: "2000:1000"}, out: `"2000:1000"`, wantErr: "minimum above its maximum"},
		{in: `"1:70000"`, want: Port{PortName: "1:70000"}, out: `"1:70000"`, wantErr: "out of range"},
		{in: `"no spaces"`, want: Port{PortName: "no spaces"}, out: `"no spaces"`, wantErr: "is not a port"},
		{in: `""`, want: Port{}, out: `0`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var p Port
			if err := json.Unmarshal([]byte(tt.in), &p); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if p != tt.want {
				t.Fatalf("decoded %+v, want %+v", p, tt.want)
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.out {
				t.Errorf("encoded %s, want %s", b, tt.out)
			}
			err = p.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	var p Port
	if err := json.Unmarshal([]byte(`{"a":1}`), &p); err == nil {
		t.Error("an object decoded as a port")
	}
}

func TestPortKinds(t *testing.T) {
	r, _ := PortRange(10, 20)
	if !SinglePort(1).IsSingle() || !r.IsRange() || !NamedPort("x").IsNamed() || r.IsNamed() {
		t.Error("port kind predicates are wrong")
	}
	if _, err := PortRange(20, 10); err == nil {
		t.Error("PortRange(20, 10) succeeded")
	}
	if p, err := ParsePort("100:200"); err != nil || p.MinPort != 100 || p.MaxPort != 200 || p.String() != "100:200" {
		t.Errorf("ParsePort(100:200) = %+v, %v", p, err)
	}
}

func TestProtocolJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    Protocol
		out     string
		wantErr string
	}{
		{in: `"TCP"`, want: ProtocolFromString("TCP"), out: `"TCP"`},
		{in: `"ICMPv6"`, want: ProtocolFromString("ICMPv6"), out: `"ICMPv6"`},
		{in: `"UDPLite"`, want: ProtocolFromString("UDPLite"), out: `"UDPLite"`},
		{in: `6`, want: ProtocolFromInt(6), out: `6`},
		{in: `"17"`, want: ProtocolFromInt(17), out: `17`},
		{in: `255`, want: ProtocolFromInt(255), out: `255`},
		{in: `0`, want: ProtocolFromInt(0), out: `0`, wantErr: "1-255"},
		{in: `256`, want: Protocol{Type: NumOrStringString, StrVal: "256"}, out: `"256"`, wantErr: "out of range"},
		{in: `"tcp"`, want: Protocol{Type: NumOrStringString, StrVal: "tcp"}, out: `"tcp"`, wantErr: `use "TCP"`},
		{in: `"GRE"`, want: Protocol{Type: NumOrStringString, StrVal: "GRE"}, out: `"GRE"`, wantErr: "use one of TCP"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var p Protocol
			if err := json.Unmarshal([]byte(tt.in), &p); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if p != tt.want {
				t.Fatalf("decoded %+v, want %+v", p, tt.want)
			}
			b, _ := json.Marshal(p)
			if string(b) != tt.out {
				t.Errorf("encoded %s, want %s", b, tt.out)
			}
			err := p.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestProtocolProperties(t *testing.T) {
	for _, tt := range []struct {
		p                      Protocol
		ports, icmp, icmp6, tc bool
	}{
		{p: ProtocolFromString("tcp"), ports: true, tc: true},
		{p: ProtocolFromInt(6), ports: true, tc: true},
		{p: ProtocolFromString(ProtocolUDP), ports: true},
		{p: ProtocolFromInt(132), ports: true},
		{p: ProtocolFromString(ProtocolSCTP), ports: true},
		{p: ProtocolFromString(ProtocolUDPLite)},
		{p: ProtocolFromString(ProtocolICMP), icmp: true},
		{p: ProtocolFromInt(1), icmp: true},
		{p: ProtocolFromInt(58), icmp6: true},
		{p: ProtocolFromString(ProtocolICMPv6), icmp6: true},
		{p: ProtocolFromInt(47)},
	} {
		if tt.p.SupportsPorts() != tt.ports || tt.p.IsICMP() != tt.icmp || tt.p.IsICMPv6() != tt.icmp6 || tt.p.IsTCP() != tt.tc {
			t.Errorf("%s: ports %v icmp %v icmpv6 %v tcp %v", tt.p, tt.p.SupportsPorts(), tt.p.IsICMP(), tt.p.IsICMPv6(), tt.p.IsTCP())
		}
	}
	if ProtocolFromString("tcp").String() != "TCP" {
		t.Error("ProtocolFromString does not canonicalise case")
	}
}

func TestASNumberJSON(t *testing.T) {
	for in, want := range map[string]ASNumber{`64512`: 64512, `"64512"`: 64512, `"1.10"`: 65546, `4294967295`: 4294967295} {
		var a ASNumber
		if err := json.Unmarshal([]byte(in), &a); err != nil || a != want {
			t.Errorf("%s: got %d, %v; want %d", in, a, err, want)
		}
	}
	for _, in := range []string{`"x"`, `4294967296`, `"1.70000"`, `-1`} {
		var a ASNumber
		if err := json.Unmarshal([]byte(in), &a); err == nil {
			t.Errorf("%s decoded as %d", in, a)
		}
	}
	if b, _ := json.Marshal(ASNumber(65000)); string(b) != "65000" {
		t.Errorf("encoded %s", b)
	}
}
