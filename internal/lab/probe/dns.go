package probe

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Lookup asks a DNS server for a name's IPv4 addresses from inside the
// named network namespace, as a pod's resolver does (UDP, recursion
// desired); the name is taken as fully qualified.
func Lookup(ns string, server netip.Addr, name string, timeout time.Duration) ([]netip.Addr, error) {
	var out []netip.Addr
	err := InNamespace(ns, func() (err error) {
		out, err = lookup(server, name, timeout)
		return err
	})
	return out, err
}

// ResolveConnect looks a name up and connects to its first address at
// once, from one thread inside the namespace: as a program in a pod does,
// with nothing between the answer and the first packet.
func ResolveConnect(ns, protocol string, server netip.Addr, name string, port int, timeout time.Duration) (Result, netip.Addr, error) {
	var (
		res  Result
		addr netip.Addr
	)
	err := InNamespace(ns, func() error {
		addrs, err := lookup(server, name, timeout)
		if err != nil {
			return err
		}
		addr = addrs[0]
		res, err = connect(protocol, addr.String(), port, timeout)
		return err
	})
	return res, addr, err
}

func lookup(server netip.Addr, name string, timeout time.Duration) ([]netip.Addr, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	var in *dns.Msg
	err := func() error {
		c, err := net.DialTimeout("udp", netip.AddrPortFrom(server, 53).String(), timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		co := &dns.Conn{Conn: c}
		_ = c.SetDeadline(time.Now().Add(timeout))
		if err := co.WriteMsg(m); err != nil {
			return err
		}
		in, err = co.ReadMsg()
		return err
	}()
	if err != nil {
		return nil, fmt.Errorf("looking up %s at %s: %w", name, server, err)
	}
	if in.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("looking up %s at %s: %s", name, server, dns.RcodeToString[in.Rcode])
	}
	var out []netip.Addr
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			if addr, ok := netip.AddrFromSlice(a.A); ok {
				out = append(out, addr.Unmap())
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("looking up %s at %s: no addresses", name, server)
	}
	return out, nil
}
