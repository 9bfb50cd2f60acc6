// Package netclass says whether addresses are private (RFC 1918 and
// RFC 4193, shared RFC 6598, loopback and link-local) or public, as flow
// logs name them ("pvt", "pub") and as compliance reports judge what is
// reachable from the internet.
package netclass

import "net/netip"

// Private reports whether a is a private, shared, loopback or
// link-local address.
func Private(a netip.Addr) bool {
	a = a.Unmap()
	shared := a.Is4() && a.As4()[0] == 100 && a.As4()[1]&0xc0 == 64 // 100.64.0.0/10
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || shared
}

// private are the private ranges, for prefixes.
var private = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("::1/128"),
}

// HasPublic reports whether a network holds any public address: it is
// not inside one private range (0.0.0.0/0 holds public ones).
func HasPublic(p netip.Prefix) bool {
	p = p.Masked()
	for _, r := range private {
		if r.Addr().Is4() == p.Addr().Is4() && r.Bits() <= p.Bits() && r.Contains(p.Addr()) {
			return false
		}
	}
	return true
}
