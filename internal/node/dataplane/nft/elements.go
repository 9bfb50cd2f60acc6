package nft

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"

	"github.com/calicong/calico/internal/node/netnsname"
)

// ErrElementsUnsupported says NetlinkElements cannot write these
// changes: the caller writes a script instead.
var ErrElementsUnsupported = errors.New("element changes netlink does not write here")

// NetlinkElements writes element changes of existing sets over netlink
// (github.com/google/nftables), in one transaction, without starting nft:
// the fast path when only set members change, as when a DNS answer's
// addresses join a domain set, where running nft would cost milliseconds
// a held answer waits for. It writes single IPv4 and IPv6 addresses to
// address sets, with or without the interval flag (an address is then
// the range [a, a+1), as nft writes it); anything else is
// ErrElementsUnsupported.
type NetlinkElements struct {
	// NetNS is a network namespace name (under /var/run/netns) or "" for
	// the process's own.
	NetNS string
}

// Apply adds and deletes elements (nft syntax, by set name) of a table's
// sets, whose declarations decl gives.
func (n NetlinkElements) Apply(family, table string, decl func(set string) (typ string, interval, ok bool), add, del map[string][]string) error {
	fam, ok := map[string]nftables.TableFamily{"inet": nftables.TableFamilyINet, "ip": nftables.TableFamilyIPv4, "ip6": nftables.TableFamilyIPv6}[family]
	if !ok {
		return fmt.Errorf("%w: family %s", ErrElementsUnsupported, family)
	}
	type change struct {
		set   *nftables.Set
		elems []nftables.SetElement
		add   bool
	}
	var changes []change
	for _, side := range []struct {
		m   map[string][]string
		add bool
	}{{del, false}, {add, true}} {
		for name, elems := range side.m {
			typ, interval, ok := decl(name)
			if !ok || (typ != "ipv4_addr" && typ != "ipv6_addr") {
				return fmt.Errorf("%w: set %s of type %q", ErrElementsUnsupported, name, typ)
			}
			var es []nftables.SetElement
			for _, e := range elems {
				a, err := netip.ParseAddr(e)
				if err != nil || a.Is4() != (typ == "ipv4_addr") {
					return fmt.Errorf("%w: element %q of %s", ErrElementsUnsupported, e, name)
				}
				es = append(es, nftables.SetElement{Key: a.AsSlice()})
				if interval {
					end := a.Next()
					if !end.IsValid() {
						return fmt.Errorf("%w: element %q of %s has no end", ErrElementsUnsupported, e, name)
					}
					es = append(es, nftables.SetElement{Key: end.AsSlice(), IntervalEnd: true})
				}
			}
			changes = append(changes, change{set: &nftables.Set{Name: name, Table: &nftables.Table{Name: table, Family: fam},
				KeyType: keyType(typ), Interval: interval}, elems: es, add: side.add})
		}
	}
	var opts []nftables.ConnOption
	if n.NetNS != "" {
		h, err := netnsname.Open(n.NetNS)
		if err != nil {
			return err
		}
		defer h.Close()
		opts = append(opts, nftables.WithNetNSFd(int(h)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nftables netlink: %w", err)
	}
	defer c.CloseLasting()
	for _, ch := range changes {
		op := c.SetDeleteElements
		if ch.add {
			op = c.SetAddElements
		}
		if err := op(ch.set, ch.elems); err != nil {
			return fmt.Errorf("set %s: %w", ch.set.Name, err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables netlink: %w", err)
	}
	return nil
}

func keyType(typ string) nftables.SetDatatype {
	if typ == "ipv6_addr" {
		return nftables.TypeIP6Addr
	}
	return nftables.TypeIPAddr
}
