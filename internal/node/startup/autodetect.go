// Package startup does what calico-node does before Felix runs: pick the
// node's IP address (autodetection), record it on the Kubernetes Node as
// Calico's annotations, make sure the datastore is initialised, and create
// a default IP pool when there is none.
package startup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
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

// Method is an autodetection method, as in IP_AUTODETECTION_METHOD and
// IP6_AUTODETECTION_METHOD (Calico's names): "first-found",
// "interface=REGEX", "skip-interface=REGEX", "can-reach=IP|NAME",
// "cidr=CIDR[,CIDR...]" or "kubernetes-internal-ip".
type Method string

// Route finds the source address the kernel would use to reach a
// destination (for can-reach).
type Route func(dst netip.Addr) (netip.Addr, error)

// Sources are what autodetection reads besides the interfaces.
type Sources struct {
	// Route finds the source address for a destination (can-reach).
	Route Route
	// Resolve looks up a host name's addresses (can-reach=NAME); nil: the
	// system's resolver.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// Node reads this node's Kubernetes Node (kubernetes-internal-ip); nil
	// where there is none.
	Node func(ctx context.Context) (*corev1.Node, error)
}

// Detect picks an address of the given family (4 or 6) by the method,
// with the system's resolver and no Kubernetes Node (see DetectWith). It
// says why when nothing qualifies.
func Detect(method Method, family int, ifaces []Interface, route Route) (netip.Prefix, error) {
	return DetectWith(context.Background(), method, family, ifaces, Sources{Route: route})
}

// DetectWith picks an address of the given family (4 or 6) by the method.
// It says why when nothing qualifies.
func DetectWith(ctx context.Context, method Method, family int, ifaces []Interface, src Sources) (netip.Prefix, error) {
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
		return canReach(ctx, strings.TrimSpace(arg), family, ifaces, src)
	case "kubernetes-internal-ip":
		return kubernetesInternalIP(ctx, family, ifaces, src.Node)
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
	return netip.Prefix{}, fmt.Errorf("unknown autodetection method %q; use first-found, interface=REGEX, skip-interface=REGEX, can-reach=IP|NAME, cidr=CIDR or kubernetes-internal-ip", m)
}

// canReach picks the address the kernel would use as the source to reach
// a destination: an address, or a host name resolved to addresses of the
// family (the first one routed is used).
func canReach(ctx context.Context, dest string, family int, ifaces []Interface, src Sources) (netip.Prefix, error) {
	if dest == "" {
		return netip.Prefix{}, errors.New("can-reach=: no destination; give an address or a host name")
	}
	var dsts []netip.Addr
	if a, err := netip.ParseAddr(dest); err == nil {
		if a.Unmap().Is4() != (family == 4) {
			return netip.Prefix{}, fmt.Errorf("can-reach=%s: not an IPv%d address", dest, family)
		}
		dsts = []netip.Addr{a.Unmap()}
	} else {
		resolve := src.Resolve
		if resolve == nil {
			resolve = systemResolve
		}
		all, err := resolve(ctx, dest)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("can-reach=%s: cannot resolve host name %q: %w", dest, dest, err)
		}
		for _, a := range all {
			if a = a.Unmap(); a.Is4() == (family == 4) {
				dsts = append(dsts, a)
			}
		}
		if len(dsts) == 0 {
			return netip.Prefix{}, fmt.Errorf("can-reach=%s: host name %q has no IPv%d address (it resolves to %v)", dest, dest, family, all)
		}
	}
	if src.Route == nil {
		return netip.Prefix{}, fmt.Errorf("can-reach=%s: no routing table to ask", dest)
	}
	var errs []error
	for _, dst := range dsts {
		from, err := src.Route(dst)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dst, err))
			continue
		}
		return withLocalPrefix(from, ifaces), nil
	}
	return netip.Prefix{}, fmt.Errorf("can-reach=%s: no route: %w", dest, errors.Join(errs...))
}

// systemResolve looks a host name up with the system's resolver.
func systemResolve(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// kubernetesInternalIP picks the Kubernetes Node's InternalIP of the
// family (the first in status.addresses), as Calico's
// kubernetes-internal-ip does; its prefix length is that of the
// interface holding it.
func kubernetesInternalIP(ctx context.Context, family int, ifaces []Interface, node func(context.Context) (*corev1.Node, error)) (netip.Prefix, error) {
	if node == nil {
		return netip.Prefix{}, errors.New("kubernetes-internal-ip: there is no Kubernetes Node to read here")
	}
	n, err := node(ctx)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("kubernetes-internal-ip: reading the Kubernetes Node: %w", err)
	}
	var seen []string
	for _, a := range n.Status.Addresses {
		seen = append(seen, string(a.Type)+"="+a.Address)
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(strings.TrimSpace(a.Address))
		if err != nil {
			if p, perr := netip.ParsePrefix(strings.TrimSpace(a.Address)); perr == nil {
				ip = p.Addr()
			} else {
				continue
			}
		}
		if ip = ip.Unmap(); ip.Is4() == (family == 4) {
			return withLocalPrefix(ip, ifaces), nil
		}
	}
	if len(seen) == 0 {
		seen = []string{"none"}
	}
	return netip.Prefix{}, fmt.Errorf("kubernetes-internal-ip: node %s has no IPv%d InternalIP in status.addresses (addresses: %s)",
		n.Name, family, strings.Join(seen, ", "))
}

// withLocalPrefix is an address with the prefix length an interface
// holds it with; a full-length prefix if none does.
func withLocalPrefix(a netip.Addr, ifaces []Interface) netip.Prefix {
	for _, ifc := range ifaces {
		for _, p := range ifc.Addrs {
			if p.Addr() == a {
				return p
			}
		}
	}
	return netip.PrefixFrom(a, a.BitLen())
}

func names(ifaces []Interface) string {
	var n []string
	for _, i := range ifaces {
		n = append(n, i.Name)
	}
	return strings.Join(n, ", ")
}
