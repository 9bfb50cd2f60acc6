// Package routes programs what the kernel needs to reach local workloads:
// a /32 (or /128) route per workload address through its host-side veth,
// and the interface settings that make the veth answer for the pods'
// gateway 169.254.1.1 (proxy ARP) and forward; and a blackhole route for
// each IPAM block affine to this node. It owns only routes with its route
// protocol on interfaces with its prefix, and blackhole routes with its
// blackhole protocol; stale ones from an earlier run are removed, nothing
// else is touched.
package routes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config says which routes are ours.
type Config struct {
	// InterfacePrefixes start workload interface names; default
	// ["cali"] (Felix's interfacePrefix, split at commas).
	InterfacePrefixes []string
	// Protocol marks our routes; default 3 ("boot", Calico's
	// DeviceRouteProtocol default).
	Protocol int
	// BlackholeProtocol marks our blackhole routes for this node's IPAM
	// blocks; default 80, the protocol Felix uses for routes that are not
	// on a workload interface. It must differ from the protocol of any
	// blackhole route someone else manages: ours are swept by it.
	BlackholeProtocol int
	// Repaired, if set, hears each change made to put back what someone
	// else changed: a route of ours deleted or added behind our back.
	Repaired func(what string)
}

// IsWorkloadInterface reports whether name starts with one of prefixes.
func IsWorkloadInterface(prefixes []string, name string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Manager reconciles workload routes and interface settings.
type Manager struct {
	cfg    Config
	nl     *netlink.Handle
	sysctl func(key, value string) error

	mu      sync.Mutex
	desired map[string][]string // iface → CIDRs
	// blackholes are the CIDRs to blackhole (this node's IPAM blocks).
	blackholes map[netip.Prefix]struct{}
	dirty      bool
	// programmed and programmedBlackholes are what the last successful
	// Apply left in the kernel (interfaces by index): a change needed
	// where nothing was asked to change is a repair. swept says the
	// start-up sweep of an earlier run's routes is done.
	programmed           map[string]programmedIface
	programmedBlackholes map[netip.Prefix]struct{}
	swept                bool
	// configured remembers interfaces whose sysctls are set (by ifindex,
	// so a recreated interface is configured again).
	configured map[string]int
}

type programmedIface struct {
	index int
	nets  []string
}

// New creates a manager using the netlink handle (nil: the current
// namespace) and sysctl writer (nil: write /proc/sys directly).
func New(cfg Config, nl *netlink.Handle, sysctl func(key, value string) error) (*Manager, error) {
	if len(cfg.InterfacePrefixes) == 0 {
		cfg.InterfacePrefixes = []string{"cali"}
	}
	if cfg.Repaired == nil {
		cfg.Repaired = func(string) {}
	}
	if cfg.Protocol == 0 {
		cfg.Protocol = unix.RTPROT_BOOT
	}
	if cfg.BlackholeProtocol == 0 {
		cfg.BlackholeProtocol = DefaultBlackholeProtocol
	}
	if nl == nil {
		var err error
		if nl, err = netlink.NewHandle(); err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
	}
	if sysctl == nil {
		sysctl = WriteSysctl
	}
	return &Manager{cfg: cfg, nl: nl, sysctl: sysctl, desired: map[string][]string{}, blackholes: map[netip.Prefix]struct{}{},
		programmed: map[string]programmedIface{}, programmedBlackholes: map[netip.Prefix]struct{}{},
		configured: map[string]int{}, dirty: true}, nil
}

// WriteSysctl writes /proc/sys/<key> ("net/ipv4/conf/eth0/proxy_arp").
func WriteSysctl(key, value string) error {
	return os.WriteFile(filepath.Join("/proc/sys", filepath.FromSlash(key)), []byte(value), 0o644)
}

// SetWorkload sets the addresses routed through an interface.
func (m *Manager) SetWorkload(iface string, nets []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.desired[iface]; ok && slices.Equal(old, nets) {
		return
	}
	m.desired[iface] = slices.Clone(nets)
	m.dirty = true
}

// RemoveWorkload forgets an interface; its routes go at the next Apply.
func (m *Manager) RemoveWorkload(iface string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.desired[iface]; ok {
		delete(m.desired, iface)
		delete(m.configured, iface)
		m.dirty = true
	}
}

// DefaultBlackholeProtocol is the route protocol of our blackhole routes.
const DefaultBlackholeProtocol = 80

// SetBlackhole asks for a blackhole route to a CIDR (one of this node's
// IPAM blocks: addresses in it that no local workload holds go nowhere).
func (m *Manager) SetBlackhole(cidr netip.Prefix) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blackholes[cidr]; !ok {
		m.blackholes[cidr] = struct{}{}
		m.dirty = true
	}
}

// RemoveBlackhole drops a blackhole route at the next Apply.
func (m *Manager) RemoveBlackhole(cidr netip.Prefix) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blackholes[cidr]; ok {
		delete(m.blackholes, cidr)
		m.dirty = true
	}
}

// Kick makes the next Apply reconcile again: after an interface event,
// or to read back the kernel's routes and repair what differs (Felix's
// routeRefreshInterval).
func (m *Manager) Kick() {
	m.mu.Lock()
	m.dirty = true
	m.mu.Unlock()
}

// Apply reconciles routes and settings. An interface that does not exist
// yet (the CNI plugin has not created it) is skipped without error and
// tried again next time.
func (m *Manager) Apply(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirty {
		return nil
	}
	var errs []error
	missing := false
	for _, iface := range slices.Sorted(maps.Keys(m.desired)) {
		link, err := m.nl.LinkByName(iface)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				missing = true
				delete(m.programmed, iface)
				continue
			}
			errs = append(errs, fmt.Errorf("interface %s: %w", iface, err))
			continue
		}
		if err := m.configure(iface, link); err != nil {
			errs = append(errs, err)
		}
		want := m.desired[iface]
		was, known := m.programmed[iface]
		unchanged := known && was.index == link.Attrs().Index && slices.Equal(was.nets, want)
		changes, err := m.syncRoutes(link, want)
		if err != nil {
			errs = append(errs, fmt.Errorf("routes of %s: %w", iface, err))
			delete(m.programmed, iface)
			continue
		}
		if unchanged {
			for _, c := range changes {
				m.cfg.Repaired(c)
			}
		}
		m.programmed[iface] = programmedIface{index: link.Attrs().Index, nets: slices.Clone(want)}
	}
	if err := m.sweep(); err != nil {
		errs = append(errs, err)
	}
	if err := m.syncBlackholes(); err != nil {
		errs = append(errs, err)
	}
	m.swept = m.swept || len(errs) == 0
	m.dirty = missing || len(errs) > 0
	return errors.Join(errs...)
}

// configure sets the interface up with the settings a pod behind it needs.
func (m *Manager) configure(iface string, link netlink.Link) error {
	if m.configured[iface] == link.Attrs().Index {
		return nil
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := m.nl.LinkSetUp(link); err != nil {
			return fmt.Errorf("set %s up: %w", iface, err)
		}
	}
	settings := [][2]string{
		// Answer ARP for the pods' gateway 169.254.1.1 (and anything else)
		// at once: the default proxy delay loses the first packets.
		{"net/ipv4/conf/" + iface + "/proxy_arp", "1"},
		{"net/ipv4/neigh/" + iface + "/proxy_delay", "0"},
		{"net/ipv4/conf/" + iface + "/forwarding", "1"},
		// Lets pods reach node-local services bound to 127.0.0.1 via DNAT.
		{"net/ipv4/conf/" + iface + "/route_localnet", "1"},
	}
	if _, err := os.Stat("/proc/sys/net/ipv6"); err == nil {
		settings = append(settings,
			[2]string{"net/ipv6/conf/" + iface + "/proxy_ndp", "1"},
			[2]string{"net/ipv6/conf/" + iface + "/forwarding", "1"},
			[2]string{"net/ipv6/conf/" + iface + "/accept_ra", "0"})
	}
	for _, s := range settings {
		if err := m.sysctl(s[0], s[1]); err != nil && !strings.Contains(s[0], "ipv6") {
			return fmt.Errorf("sysctl %s=%s: %w", s[0], s[1], err)
		}
	}
	m.configured[iface] = link.Attrs().Index
	return nil
}

// syncRoutes makes an interface's routes of ours exactly nets, and says
// what it changed.
func (m *Manager) syncRoutes(link netlink.Link, nets []string) (changes []string, _ error) {
	want := map[string]*net.IPNet{}
	for _, n := range nets {
		_, ipn, err := net.ParseCIDR(n)
		if err != nil {
			return nil, err
		}
		want[ipn.String()] = ipn
	}
	have, err := m.ourRoutes(link)
	if err != nil {
		return nil, err
	}
	var errs []error
	iface := link.Attrs().Name
	for _, r := range have {
		if _, ok := want[r.Dst.String()]; !ok {
			if err := m.nl.RouteDel(&r); err != nil {
				errs = append(errs, fmt.Errorf("delete route %s: %w", r.Dst, err))
				continue
			}
			changes = append(changes, fmt.Sprintf("deleted route %s on %s, which was not ours to have", r.Dst, iface))
		}
	}
	for dst, ipn := range want {
		found := false
		for _, r := range have {
			if r.Dst.String() == dst {
				found = true
			}
		}
		if found {
			continue
		}
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipn, Scope: netlink.SCOPE_LINK, Protocol: netlink.RouteProtocol(m.cfg.Protocol)}
		if err := m.nl.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("add route %s: %w", dst, err))
			continue
		}
		changes = append(changes, fmt.Sprintf("route %s via %s was missing", dst, iface))
	}
	return changes, errors.Join(errs...)
}

func (m *Manager) ourRoutes(link netlink.Link) ([]netlink.Route, error) {
	var out []netlink.Route
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := m.nl.RouteListFiltered(family, &netlink.Route{LinkIndex: link.Attrs().Index, Protocol: netlink.RouteProtocol(m.cfg.Protocol)},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.Dst != nil {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// sweep removes our routes on interfaces with our prefix that no endpoint
// wants (left by an earlier run, or by a workload that is gone).
func (m *Manager) sweep() error {
	links, err := m.nl.LinkList()
	if err != nil {
		return err
	}
	var errs []error
	present := map[string]bool{}
	for _, l := range links {
		name := l.Attrs().Name
		present[name] = true
		if !IsWorkloadInterface(m.cfg.InterfacePrefixes, name) {
			continue
		}
		if _, ok := m.desired[name]; ok {
			continue
		}
		// Routes of a workload we removed are cleanup; routes appearing
		// on an interface we do not route, after the start-up sweep, were
		// put there by someone else.
		_, ours := m.programmed[name]
		rs, err := m.ourRoutes(l)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		failed := false
		for _, r := range rs {
			if err := m.nl.RouteDel(&r); err != nil {
				errs = append(errs, fmt.Errorf("delete stale route %s on %s: %w", r.Dst, name, err))
				failed = true
				continue
			}
			if m.swept && !ours {
				m.cfg.Repaired(fmt.Sprintf("deleted route %s on %s, which routes no workload", r.Dst, name))
			}
		}
		if !failed {
			delete(m.programmed, name)
		}
	}
	for name := range m.programmed {
		if !present[name] {
			delete(m.programmed, name) // gone with its routes
		}
	}
	return errors.Join(errs...)
}

// syncBlackholes makes the blackhole routes with our protocol exactly the
// wanted ones.
func (m *Manager) syncBlackholes() error {
	have := map[netip.Prefix]bool{}
	var errs []error
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := m.nl.RouteListFiltered(family, &netlink.Route{Type: unix.RTN_BLACKHOLE, Protocol: netlink.RouteProtocol(m.cfg.BlackholeProtocol)},
			netlink.RT_FILTER_TYPE|netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			return fmt.Errorf("list blackhole routes: %w", err)
		}
		for _, r := range rs {
			p, ok := prefixOf(r.Dst)
			if !ok {
				continue
			}
			if _, want := m.blackholes[p]; want {
				have[p] = true
				continue
			}
			if err := m.nl.RouteDel(&r); err != nil {
				errs = append(errs, fmt.Errorf("delete blackhole %s: %w", p, err))
				continue
			}
			if _, ours := m.programmedBlackholes[p]; m.swept && !ours {
				m.cfg.Repaired(fmt.Sprintf("deleted blackhole route %s, which is no block of this node's", p))
			}
			delete(m.programmedBlackholes, p)
		}
	}
	for _, p := range slices.SortedFunc(maps.Keys(m.blackholes), netip.Prefix.Compare) {
		if have[p] {
			m.programmedBlackholes[p] = struct{}{}
			continue
		}
		r := &netlink.Route{Dst: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
			Type: unix.RTN_BLACKHOLE, Protocol: netlink.RouteProtocol(m.cfg.BlackholeProtocol)}
		if err := m.nl.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("add blackhole %s: %w", p, err))
			continue
		}
		if _, ours := m.programmedBlackholes[p]; ours {
			m.cfg.Repaired(fmt.Sprintf("blackhole route %s was missing", p))
		}
		m.programmedBlackholes[p] = struct{}{}
	}
	return errors.Join(errs...)
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// Route is one programmed workload route.
type Route struct {
	Destination string // CIDR
	Interface   string
}

// Programmed lists the routes the kernel holds that are ours (our
// protocol, on an interface with our prefix), sorted by destination. It
// only reads, so it is safe beside a running Apply.
func (m *Manager) Programmed() ([]Route, error) {
	links, err := m.nl.LinkList()
	if err != nil {
		return nil, err
	}
	var out []Route
	for _, l := range links {
		name := l.Attrs().Name
		if !IsWorkloadInterface(m.cfg.InterfacePrefixes, name) {
			continue
		}
		rs, err := m.ourRoutes(l)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out = append(out, Route{Destination: r.Dst.String(), Interface: name})
		}
	}
	slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.Destination, b.Destination) })
	return out, nil
}
