package cni

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The pod's gateways: 169.254.1.1, answered by proxy ARP on the host
// side, and for IPv6 the host side's link-local address, derived from its
// fixed MAC.
const (
	HostVethMAC = "ee:ee:ee:ee:ee:ee"
	Gateway4    = "169.254.1.1"
	Gateway6    = "fe80::ecee:eeff:feee:eeee"
)

// Wiring describes a pod's interface.
type Wiring struct {
	HostIface  string // cali<hash>, in the host's namespace
	Netns      string // path of the pod's network namespace
	IfName     string // inside the pod, usually eth0
	MTU        int
	IPs        []netip.Addr
	AllowIPFwd bool // container_settings.allow_ip_forwarding
}

// Wired is what Setup made.
type Wired struct {
	HostMAC, PodMAC string
}

// withNetns runs f with the calling thread in the namespace at path.
func withNetns(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// A thread that changed namespace is retired when this goroutine
		// ends with it locked.
		runtime.LockOSThread()
		h, err := netns.GetFromPath(path)
		if err != nil {
			errc <- &NetnsError{Path: path, Err: err}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- &NetnsError{Path: path, Err: err}
			return
		}
		errc <- f()
	}()
	return <-errc
}

// NetnsError: the pod's network namespace cannot be used (CNI code 8...
// reported as "invalid netns").
type NetnsError struct {
	Path string
	Err  error
}

func (e *NetnsError) Error() string { return fmt.Sprintf("network namespace %s: %v", e.Path, e.Err) }
func (e *NetnsError) Unwrap() error { return e.Err }

func writeSysctl(key, value string) error {
	return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
}

// checkNetns tells whether a network namespace can be entered.
func checkNetns(path string) error {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return &NetnsError{Path: path, Err: err}
	}
	return h.Close()
}

// routesTo lists the host's routes to a destination. A variable so that a
// test can make it fail.
var routesTo = func(h *netlink.Handle, family int, filter *netlink.Route, mask uint64) ([]netlink.Route, error) {
	return h.RouteListFiltered(family, filter, mask)
}

// hasInterface tells whether the pod's network namespace has an
// interface by that name.
func hasInterface(netnsPath, ifName string) (bool, error) {
	nsh, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return false, &NetnsError{Path: netnsPath, Err: err}
	}
	defer nsh.Close()
	pod, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return false, fmt.Errorf("netlink in %s: %w", netnsPath, err)
	}
	defer pod.Close()
	_, err = pod.LinkByName(ifName)
	var nf netlink.LinkNotFoundError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &nf):
		return false, nil
	}
	return false, fmt.Errorf("looking for %s in %s: %w", ifName, netnsPath, err)
}

// interfaceAddrs are the global addresses of the pod's interface.
func interfaceAddrs(netnsPath, ifName string) ([]netip.Addr, error) {
	nsh, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return nil, &NetnsError{Path: netnsPath, Err: err}
	}
	defer nsh.Close()
	pod, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", netnsPath, err)
	}
	defer pod.Close()
	l, err := pod.LinkByName(ifName)
	if err != nil {
		return nil, fmt.Errorf("pod interface %s: %w", ifName, err)
	}
	addrs, err := pod.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("addresses of the pod's %s: %w", ifName, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap().IsGlobalUnicast() {
			out = append(out, ip.Unmap())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the pod's interface %s has no address", ifName)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// Setup creates the veth pair and everything around it. On failure it
// removes what it made.
func Setup(w Wiring) (Wired, error) {
	var out Wired
	host, err := netlink.NewHandle()
	if err != nil {
		return out, err
	}
	defer host.Close()
	nsh, err := netns.GetFromPath(w.Netns)
	if err != nil {
		return out, &NetnsError{Path: w.Netns, Err: err}
	}
	defer nsh.Close()
	pod, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return out, err
	}
	defer pod.Close()

	if _, err := pod.LinkByName(w.IfName); err == nil {
		return out, fmt.Errorf("the pod's network namespace already has an interface %s (a repeated ADD for this container?)", w.IfName)
	}
	// A host side left by an earlier sandbox of the same pod goes.
	if old, err := host.LinkByName(w.HostIface); err == nil {
		if err := host.LinkDel(old); err != nil {
			return out, fmt.Errorf("removing the stale %s: %w", w.HostIface, err)
		}
	}
	mac, _ := net.ParseMAC(HostVethMAC)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: w.HostIface, MTU: w.MTU, HardwareAddr: mac},
		PeerName:      w.IfName,
		PeerNamespace: netlink.NsFd(int(nsh)),
	}
	if err := host.LinkAdd(veth); err != nil {
		return out, fmt.Errorf("creating veth %s: %w", w.HostIface, err)
	}
	fail := func(err error) (Wired, error) {
		if l, lerr := host.LinkByName(w.HostIface); lerr == nil {
			_ = host.LinkDel(l)
		}
		return Wired{}, err
	}
	hostLink, err := host.LinkByName(w.HostIface)
	if err != nil {
		return fail(err)
	}
	out.HostMAC = hostLink.Attrs().HardwareAddr.String()

	// Host side: answer ARP for 169.254.1.1, forward, no router
	// advertisements or DAD on IPv6.
	sysctls := [][2]string{
		{"net/ipv4/conf/" + w.HostIface + "/route_localnet", "1"},
		{"net/ipv4/conf/" + w.HostIface + "/proxy_arp", "1"},
		{"net/ipv4/neigh/" + w.HostIface + "/proxy_delay", "0"},
		{"net/ipv4/conf/" + w.HostIface + "/forwarding", "1"},
	}
	if hasV6(w.IPs) {
		sysctls = append(sysctls,
			[2]string{"net/ipv6/conf/" + w.HostIface + "/accept_dad", "0"},
			[2]string{"net/ipv6/conf/" + w.HostIface + "/accept_ra", "0"},
			[2]string{"net/ipv6/conf/" + w.HostIface + "/proxy_ndp", "1"},
			[2]string{"net/ipv6/conf/" + w.HostIface + "/forwarding", "1"})
	}
	for _, s := range sysctls {
		if err := writeSysctl(s[0], s[1]); err != nil {
			return fail(fmt.Errorf("sysctl %s: %w", s[0], err))
		}
	}
	if err := host.LinkSetUp(hostLink); err != nil {
		return fail(err)
	}

	// Pod side: addresses, up, routes via the gateways.
	podLink, err := pod.LinkByName(w.IfName)
	if err != nil {
		return fail(err)
	}
	out.PodMAC = podLink.Attrs().HardwareAddr.String()
	for _, ip := range w.IPs {
		a := &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(ip, ip.BitLen()))}
		if ip.Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := pod.AddrAdd(podLink, a); err != nil {
			return fail(fmt.Errorf("adding %s to %s: %w", ip, w.IfName, err))
		}
	}
	if err := pod.LinkSetUp(podLink); err != nil {
		return fail(err)
	}
	idx := podLink.Attrs().Index
	if hasV4(w.IPs) {
		gw := net.ParseIP(Gateway4)
		if err := pod.RouteAdd(&netlink.Route{LinkIndex: idx, Dst: &net.IPNet{IP: gw, Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_LINK}); err != nil {
			return fail(fmt.Errorf("route to %s in the pod: %w", Gateway4, err))
		}
		if err := pod.RouteAdd(&netlink.Route{LinkIndex: idx, Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, Gw: gw}); err != nil {
			return fail(fmt.Errorf("default route in the pod: %w", err))
		}
	}
	if hasV6(w.IPs) {
		if err := pod.RouteAdd(&netlink.Route{LinkIndex: idx, Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}, Gw: net.ParseIP(Gateway6)}); err != nil {
			return fail(fmt.Errorf("IPv6 default route in the pod: %w", err))
		}
	}
	if w.AllowIPFwd {
		err := withNetns(w.Netns, func() error {
			if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
				return err
			}
			if hasV6(w.IPs) {
				return writeSysctl("net/ipv6/conf/all/forwarding", "1")
			}
			return nil
		})
		if err != nil {
			return fail(fmt.Errorf("allow_ip_forwarding: %w", err))
		}
	}

	// Host routes to the pod; an address routed elsewhere is someone
	// else's.
	for _, ip := range w.IPs {
		dst := prefixNet(netip.PrefixFrom(ip, ip.BitLen()))
		family := netlink.FAMILY_V4
		if ip.Is6() {
			family = netlink.FAMILY_V6
		}
		existing, err := routesTo(host, family, &netlink.Route{Dst: dst}, netlink.RT_FILTER_DST)
		if err != nil {
			return fail(fmt.Errorf("listing the host's routes to %s (to refuse an address routed elsewhere): %w", ip, err))
		}
		for _, r := range existing {
			if r.LinkIndex != hostLink.Attrs().Index && r.Type != unix.RTN_BLACKHOLE {
				other := fmt.Sprint(r.LinkIndex)
				if l, err := host.LinkByIndex(r.LinkIndex); err == nil {
					other = l.Attrs().Name
				}
				return fail(fmt.Errorf("%s is already routed to %s: another pod may hold it", ip, other))
			}
		}
		if err := host.RouteReplace(&netlink.Route{LinkIndex: hostLink.Attrs().Index, Dst: dst, Scope: netlink.SCOPE_LINK}); err != nil {
			return fail(fmt.Errorf("host route to %s: %w", ip, err))
		}
	}
	return out, nil
}

// Teardown removes the pod's interface (and with it the pair and the
// host routes). A missing namespace or interface is not an error.
func Teardown(netnsPath, ifName string) error {
	if netnsPath == "" {
		return nil
	}
	nsh, err := netns.GetFromPath(netnsPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return &NetnsError{Path: netnsPath, Err: err}
	}
	defer nsh.Close()
	pod, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return err
	}
	defer pod.Close()
	l, err := pod.LinkByName(ifName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return pod.LinkDel(l)
}

// Check verifies that a pod is wired as Setup left it.
func Check(w Wiring) error {
	_, err := Inspect(w)
	return err
}

// Inspect verifies that a pod is wired as Setup left it and returns the
// interfaces' MAC addresses, as Setup did.
func Inspect(w Wiring) (Wired, error) {
	var out Wired
	host, err := netlink.NewHandle()
	if err != nil {
		return out, err
	}
	defer host.Close()
	hostLink, err := host.LinkByName(w.HostIface)
	if err != nil {
		return out, fmt.Errorf("host interface %s: %w", w.HostIface, err)
	}
	if hostLink.Attrs().Flags&net.FlagUp == 0 {
		return out, fmt.Errorf("host interface %s is down", w.HostIface)
	}
	out.HostMAC = hostLink.Attrs().HardwareAddr.String()
	nsh, err := netns.GetFromPath(w.Netns)
	if err != nil {
		return out, &NetnsError{Path: w.Netns, Err: err}
	}
	defer nsh.Close()
	pod, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return out, err
	}
	defer pod.Close()
	podLink, err := pod.LinkByName(w.IfName)
	if err != nil {
		return out, fmt.Errorf("pod interface %s: %w", w.IfName, err)
	}
	out.PodMAC = podLink.Attrs().HardwareAddr.String()
	addrs, err := pod.AddrList(podLink, netlink.FAMILY_ALL)
	if err != nil {
		return out, err
	}
	var missing []string
	for _, ip := range w.IPs {
		found := false
		for _, a := range addrs {
			if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == ip {
				found = true
			}
		}
		if !found {
			missing = append(missing, ip.String())
		}
		dst := prefixNet(netip.PrefixFrom(ip, ip.BitLen()))
		family := netlink.FAMILY_V4
		if ip.Is6() {
			family = netlink.FAMILY_V6
		}
		rs, err := routesTo(host, family, &netlink.Route{Dst: dst, LinkIndex: hostLink.Attrs().Index}, netlink.RT_FILTER_DST|netlink.RT_FILTER_OIF)
		if err != nil {
			return out, fmt.Errorf("listing the host's routes to %s: %w", ip, err)
		}
		if len(rs) == 0 {
			return out, fmt.Errorf("no host route to %s via %s", ip, w.HostIface)
		}
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("pod interface %s lacks %s", w.IfName, strings.Join(missing, ", "))
	}
	return out, nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func hasV4(ips []netip.Addr) bool {
	for _, ip := range ips {
		if ip.Is4() {
			return true
		}
	}
	return false
}

func hasV6(ips []netip.Addr) bool {
	for _, ip := range ips {
		if ip.Is6() {
			return true
		}
	}
	return false
}
