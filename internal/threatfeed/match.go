package threatfeed

import (
	"net/netip"
	"slices"
	"strings"
)

// IPMatcher finds whether an address is in an IPSet feed: single
// addresses in a map, networks in one sorted table per prefix length
// (longest first), so a lookup costs one map probe plus a binary search
// per distinct prefix length, whatever the feed's size.
type IPMatcher struct {
	hosts map[netip.Addr]string
	nets  []netsOfLen // by prefix length, longest first
}

type netsOfLen struct {
	bits  int
	v6    bool
	start []netip.Addr // masked network addresses, sorted
	entry []string     // the feed entry of each
}

// NewIPMatcher indexes a feed's entries (as Parse gives them: CIDRs).
// Entries that are not CIDRs are skipped.
func NewIPMatcher(entries []string) *IPMatcher {
	m := &IPMatcher{hosts: map[netip.Addr]string{}}
	byLen := map[[2]int][]netip.Prefix{}
	for _, e := range entries {
		p, err := netip.ParsePrefix(e)
		if err != nil {
			continue
		}
		p = p.Masked()
		if p.IsSingleIP() {
			m.hosts[p.Addr()] = e
			continue
		}
		v6 := 0
		if p.Addr().Is6() {
			v6 = 1
		}
		k := [2]int{p.Bits(), v6}
		byLen[k] = append(byLen[k], p)
	}
	for k, ps := range byLen {
		slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		n := netsOfLen{bits: k[0], v6: k[1] == 1}
		for _, p := range ps {
			n.start = append(n.start, p.Addr())
			n.entry = append(n.entry, p.String())
		}
		m.nets = append(m.nets, n)
	}
	slices.SortFunc(m.nets, func(a, b netsOfLen) int { return b.bits - a.bits })
	return m
}

// Match returns the feed entry that holds addr, if any (the most
// specific).
func (m *IPMatcher) Match(addr netip.Addr) (string, bool) {
	addr = addr.Unmap()
	if e, ok := m.hosts[addr]; ok {
		return e, true
	}
	for i := range m.nets {
		n := &m.nets[i]
		if n.v6 != addr.Is6() {
			continue
		}
		p, err := addr.Prefix(n.bits)
		if err != nil {
			continue
		}
		if j, ok := slices.BinarySearchFunc(n.start, p.Addr(), netip.Addr.Compare); ok {
			return n.entry[j], true
		}
	}
	return "", false
}

// Len is how many entries the matcher holds.
func (m *IPMatcher) Len() int {
	n := len(m.hosts)
	for _, s := range m.nets {
		n += len(s.start)
	}
	return n
}

// DomainMatcher finds whether a name, or a domain it is under, is in a
// DomainNameSet feed: a feed entry "bad.example" matches "bad.example"
// and "x.bad.example", as threat feeds of domains mean it.
type DomainMatcher struct {
	names map[string]struct{}
}

// NewDomainMatcher indexes a feed's entries (as Parse gives them).
func NewDomainMatcher(entries []string) *DomainMatcher {
	m := &DomainMatcher{names: make(map[string]struct{}, len(entries))}
	for _, e := range entries {
		m.names[e] = struct{}{}
	}
	return m
}

// Match returns the feed entry name is, or is under.
func (m *DomainMatcher) Match(name string) (string, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for {
		if _, ok := m.names[name]; ok {
			return name, true
		}
		_, rest, ok := strings.Cut(name, ".")
		if !ok {
			return "", false
		}
		name = rest
	}
}
