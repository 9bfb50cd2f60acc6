package netclass

import (
	"net/netip"
	"testing"
)

func TestClasses(t *testing.T) {
	for a, want := range map[string]bool{"10.1.2.3": true, "100.64.1.1": true, "127.0.0.1": true, "169.254.1.1": true, "fd00::1": true,
		"fe80::1": true, "1.1.1.1": false, "2001:db8::1": false, "172.32.0.1": false, "::ffff:10.0.0.1": true} {
		if got := Private(netip.MustParseAddr(a)); got != want {
			t.Errorf("Private(%s) = %v", a, got)
		}
	}
	for p, want := range map[string]bool{"0.0.0.0/0": true, "10.0.0.0/8": false, "10.1.0.0/16": false, "8.0.0.0/7": true,
		"172.0.0.0/8": true, "192.168.1.0/24": false, "::/0": true, "fd12::/16": false} {
		if got := HasPublic(netip.MustParsePrefix(p)); got != want {
			t.Errorf("HasPublic(%s) = %v", p, got)
		}
	}
}
