package startup

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	ifaces := []Interface{
		{Name: "lo", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		{Name: "docker0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("172.17.0.1/16")}},
		{Name: "eth0", Up: false, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24")}},
		{Name: "eth1", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("fe80::1/64"), netip.MustParsePrefix("192.168.1.5/24"), netip.MustParsePrefix("fd00::5/64")}},
		{Name: "ens4", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.0.7/16")}},
	}
	route := func(dst netip.Addr) (netip.Addr, error) {
		if dst.Is4() && netip.MustParsePrefix("10.1.0.0/16").Contains(dst) {
			return netip.MustParseAddr("10.1.0.7"), nil
		}
		return netip.Addr{}, errors.New("network unreachable")
	}
	cases := []struct {
		method Method
		family int
		want   string
		err    string
	}{
		{"", 4, "192.168.1.5/24", ""},
		{"first-found", 6, "fd00::5/64", ""},
		{"interface=ens.*", 4, "10.1.0.7/16", ""},
		{"interface=eth0", 4, "", "no matching interface"},
		{"skip-interface=eth1", 4, "10.1.0.7/16", ""},
		{"can-reach=10.1.200.1", 4, "10.1.0.7/16", ""},
		{"can-reach=8.8.8.8", 4, "", "no route"},
		{"can-reach=example.com", 4, "", "not an IP address"},
		{"cidr=10.0.0.0/8", 4, "10.1.0.7/16", ""},
		{"cidr=10.200.0.0/16", 4, "", "no interface has"},
		{"interface=(", 4, "", "bad regular expression"},
		{"magic", 4, "", "unknown autodetection method"},
	}
	for _, c := range cases {
		got, err := Detect(c.method, c.family, ifaces, route)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s/v%d: error %v, want one containing %q", c.method, c.family, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s/v%d: %v", c.method, c.family, err)
		case c.err == "" && got.String() != c.want:
			t.Errorf("%s/v%d: got %s, want %s", c.method, c.family, got, c.want)
		}
	}
}
