// Package startup does what calico-node does before Felix runs: pick the
// node's IP address (autodetection), record it on the Kubernetes Node as
// Calico's annotations, make sure the datastore is initialised, and create
// a default IP pool when there is none.
package startup

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Interface is a network interface and its addresses (with prefix
// lengths), as autodetection sees it.
type Interface struct {
	Name  string
	Up    bool
	Addrs []netip.Prefix
}

// defaultSkip are interfaces first-found never picks: Calico's own, and
// container and virtual bridges.
var defaultSkip = regexp.MustCompile(`^(lo|docker.*|cbr.*|dummy.*|virbr.*|lxcbr.*|veth.*|cali.*|tunl.*|flannel.*|kube-ipvs.*|cni.*|vxlan.*|vxlan-v6.*|wireguard.*|nodelocaldns.*)$`)

// Method is an autodetection method, as in IP_AUTODETECTION_METHOD:
// "first-found", "interface=REGEX", "skip-interface=REGEX", "can-reach=IP"
// or "cidr=CIDR[,CIDR...]".
type Method string

// Route finds the source address the kernel would use to reach a
// destination (for can-reach).
type Route func(dst netip.Addr) (netip.Addr, error)

// Detect picks an address of the given family (4 or 6) by the method. It
// says why when nothing qualifies.
func Detect(method Method, family int, ifaces []Interface, route Route) (netip.Prefix, error) {
	m := strings.TrimSpace(string(method))
	if m == "" {
		m = "first-found"
	}
	kind, arg, _ := strings.Cut(m, "=")
	usable := func(p netip.Prefix) bool {
		a := p.Addr()
		if (family == 4) != a.Is4() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() {
			return false
		}
		return true
	}
	pick := func(accept func(Interface) bool) (netip.Prefix, bool) {
		for _, ifc := range ifaces {
			if !ifc.Up || !accept(ifc) {
				continue
			}
			for _, p := range ifc.Addrs {
				if usable(p) {
					return p, true
				}
			}
		}
		return netip.Prefix{}, false
	}
	switch kind {
	case "first-found":
		if p, ok := pick(func(i Interface) bool { return !defaultSkip.MatchString(i.Name) }); ok {
			return p, nil
		}
		return netip.Prefix{}, fmt.Errorf("first-found: no interface that is up has an IPv%d address (skipped: lo, docker*, cali*, veth*, ...); choose one with IP_AUTODETECTION_METHOD=interface=NAME", family)
	case "interface", "skip-interface":
		var res []*regexp.Regexp
		for _, r := range strings.Split(arg, ",") {
			re, err := regexp.Compile("^(" + strings.TrimSpace(r) + ")$")
			if err != nil {
				return netip.Prefix{}, fmt.Errorf("%s: bad regular expression %q: %v", kind, r, err)
			}
			res = append(res, re)
		}
		matches := func(i Interface) bool {
			return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(i.Name) })
		}
		accept := matches
		if kind == "skip-interface" {
			accept = func(i Interface) bool { return !matches(i) && !defaultSkip.MatchString(i.Name) }
		}
		if p, ok := pick(accept); ok {
			return p, nil
		}
		return netip.Prefix{}, fmt.Errorf("%s=%s: no matching interface that is up has an IPv%d address (interfaces: %s)", kind, arg, family, names(ifaces))
	case "can-reach":
		dst, err := netip.ParseAddr(strings.TrimSpace(arg))
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("can-reach=%s: not an IP address (a name must be resolved first)", arg)
		}
		src, err := route(dst)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("can-reach=%s: no route: %v", arg, err)
		}
		for _, ifc := range ifaces {
			for _, p := range ifc.Addrs {
				if p.Addr() == src {
					return p, nil
				}
			}
		}
		return netip.PrefixFrom(src, src.BitLen()), nil
	case "cidr":
		var cidrs []netip.Prefix
		for _, c := range strings.Split(arg, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(c))
			if err != nil {
				return netip.Prefix{}, fmt.Errorf("cidr=%s: %q is not a CIDR", arg, c)
			}
			cidrs = append(cidrs, p)
		}
		for _, ifc := range ifaces {
			if !ifc.Up {
				continue
			}
			for _, p := range ifc.Addrs {
				if usable(p) && slices.ContainsFunc(cidrs, func(c netip.Prefix) bool { return c.Contains(p.Addr()) }) {
					return p, nil
				}
			}
		}
		return netip.Prefix{}, fmt.Errorf("cidr=%s: no interface has an IPv%d address in it", arg, family)
	}
	return netip.Prefix{}, fmt.Errorf("unknown autodetection method %q; use first-found, interface=REGEX, skip-interface=REGEX, can-reach=IP or cidr=CIDR", m)
}

func names(ifaces []Interface) string {
	var n []string
	for _, i := range ifaces {
		n = append(n, i.Name)
	}
	return strings.Join(n, ", ")
}
