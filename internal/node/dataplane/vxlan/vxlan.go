// Package vxlan programs the node's VXLAN overlay: the VXLAN device (with
// the node's tunnel address and MAC, on the interface holding the node's
// address), a permanent ARP entry and a forwarding entry for every other
// node's tunnel endpoint, and routes to other nodes' blocks through their
// tunnel addresses (or, for CrossSubnet pools on the same subnet, straight
// to the node). Learning is off: every entry is ours and is reconciled,
// stale ones from an earlier run included. The device goes when no VTEP
// is wanted.
package vxlan

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/calicong/calico/internal/proto"
)

// Defaults, as Calico's.
const (
	DefaultDevice   = "vxlan.calico"
	DefaultVNI      = 4096
	DefaultPort     = 4789
	DefaultProtocol = 80
	// overhead is what VXLAN adds to a packet (outer IPv4, UDP, VXLAN and
	// inner Ethernet headers).
	overhead = 50
)

// Config places the overlay.
type Config struct {
	Device string
	VNI    int
	Port   int
	// MTU of the device; 0 means the parent interface's minus 50.
	MTU int
	// Protocol marks our routes (default 80). Blackholes with the same
	// protocol belong to the routes manager and are left alone.
	Protocol int
	// Repaired, if set, hears each change made to put back what someone
	// else changed (an entry or route deleted, the device taken down).
	Repaired func(what string)
}

// Manager reconciles the overlay.
type Manager struct {
	cfg Config
	nl  *netlink.Handle

	mu     sync.Mutex
	local  *proto.VTEPUpdate
	remote map[string]proto.VTEPUpdate
	routes map[netip.Prefix]proto.RouteUpdate
	dirty  bool
	// applied is what the last successful Apply programmed: changes
	// needed to program the same again are repairs. changes collects
	// what one apply changed.
	applied *overlayState
	changes []string
}

type overlayState struct {
	local  *proto.VTEPUpdate
	remote map[string]proto.VTEPUpdate
	routes map[netip.Prefix]proto.RouteUpdate
}

// New makes a manager on a netlink handle (nil: the current namespace).
func New(cfg Config, nl *netlink.Handle) (*Manager, error) {
	if cfg.Device == "" {
		cfg.Device = DefaultDevice
	}
	if cfg.VNI == 0 {
		cfg.VNI = DefaultVNI
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Protocol == 0 {
		cfg.Protocol = DefaultProtocol
	}
	if cfg.Repaired == nil {
		cfg.Repaired = func(string) {}
	}
	if nl == nil {
		var err error
		if nl, err = netlink.NewHandle(); err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
	}
	return &Manager{cfg: cfg, nl: nl, remote: map[string]proto.VTEPUpdate{}, routes: map[netip.Prefix]proto.RouteUpdate{}, dirty: true}, nil
}

// SetLocalVTEP sets this node's tunnel endpoint (nil: none, the device
// goes).
func (m *Manager) SetLocalVTEP(v *proto.VTEPUpdate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.local, m.dirty = v, true
}

// SetVTEP sets another node's tunnel endpoint.
func (m *Manager) SetVTEP(v proto.VTEPUpdate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remote[v.Node], m.dirty = v, true
}

// RemoveVTEP removes another node's tunnel endpoint.
func (m *Manager) RemoveVTEP(node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.remote, node)
	m.dirty = true
}

// SetRoute sets a route to another node's block (RouteRemoteVXLAN or
// RouteRemoteDirect).
func (m *Manager) SetRoute(r proto.RouteUpdate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.routes[r.Dst], m.dirty = r, true
}

// RemoveRoute removes a route set earlier (absent: nothing).
func (m *Manager) RemoveRoute(dst netip.Prefix) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.routes[dst]; ok {
		delete(m.routes, dst)
		m.dirty = true
	}
}

// Kick makes the next Apply reconcile even without changes (after an
// interface change, say).
func (m *Manager) Kick() {
	m.mu.Lock()
	m.dirty = true
	m.mu.Unlock()
}

// Apply reconciles the kernel with the desired overlay.
func (m *Manager) Apply(ctx context.Context) error {
	m.mu.Lock()
	if !m.dirty {
		m.mu.Unlock()
		return nil
	}
	want := &overlayState{local: m.local, remote: maps.Clone(m.remote), routes: maps.Clone(m.routes)}
	m.dirty = false
	m.mu.Unlock()
	m.changes = nil
	err := m.apply(want.local, want.remote, want.routes)
	if err != nil {
		m.applied = nil
		m.Kick()
		return err
	}
	if reflect.DeepEqual(m.applied, want) {
		for _, c := range m.changes {
			m.cfg.Repaired(c)
		}
	}
	m.applied = want
	return nil
}

// changed records a change to the kernel.
func (m *Manager) changed(format string, args ...any) {
	m.changes = append(m.changes, fmt.Sprintf(format, args...))
}

func (m *Manager) apply(local *proto.VTEPUpdate, remote map[string]proto.VTEPUpdate, routes map[netip.Prefix]proto.RouteUpdate) error {
	var errs []error
	var dev netlink.Link
	if local == nil {
		if l, err := m.nl.LinkByName(m.cfg.Device); err == nil {
			if err := m.nl.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", m.cfg.Device, err))
			} else {
				m.changed("removed device %s, which no VTEP wants", m.cfg.Device)
			}
		}
	} else {
		var err error
		if dev, err = m.ensureDevice(*local); err != nil {
			errs = append(errs, err)
		}
	}
	if dev != nil {
		errs = append(errs, m.syncNeighbours(dev, remote)...)
	}
	errs = append(errs, m.syncRoutes(dev, routes)...)
	return errors.Join(errs...)
}

// parent finds the interface holding the node's address.
func (m *Manager) parent(ip netip.Addr) (netlink.Link, error) {
	addrs, err := m.nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == ip {
			return m.nl.LinkByIndex(a.LinkIndex)
		}
	}
	return nil, fmt.Errorf("no interface has the node's address %s (the VXLAN device's parent)", ip)
}

func (m *Manager) ensureDevice(v proto.VTEPUpdate) (netlink.Link, error) {
	parent, err := m.parent(v.NodeIP)
	if err != nil {
		return nil, err
	}
	mac, err := net.ParseMAC(v.MAC)
	if err != nil {
		return nil, fmt.Errorf("VTEP MAC %q: %w", v.MAC, err)
	}
	mtu := m.cfg.MTU
	if mtu == 0 {
		mtu = parent.Attrs().MTU - overhead
	}
	want := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: m.cfg.Device, HardwareAddr: mac, MTU: mtu},
		VxlanId:      m.cfg.VNI,
		VtepDevIndex: parent.Attrs().Index,
		SrcAddr:      v.NodeIP.AsSlice(),
		Port:         m.cfg.Port,
		Learning:     false,
	}
	l, err := m.nl.LinkByName(m.cfg.Device)
	if err == nil {
		cur, ok := l.(*netlink.Vxlan)
		if !ok || cur.VxlanId != want.VxlanId || cur.Port != want.Port || cur.VtepDevIndex != want.VtepDevIndex ||
			!net.IP(cur.SrcAddr).Equal(want.SrcAddr) || cur.Learning {
			// Settings that cannot change in place: make it again.
			if err := m.nl.LinkDel(l); err != nil {
				return nil, fmt.Errorf("replacing %s: %w", m.cfg.Device, err)
			}
			m.changed("replaced device %s, whose settings had changed", m.cfg.Device)
			l = nil
		}
	} else {
		l = nil
	}
	if l == nil {
		if err := m.nl.LinkAdd(want); err != nil {
			return nil, fmt.Errorf("creating %s: %w", m.cfg.Device, err)
		}
		m.changed("device %s was missing", m.cfg.Device)
		if l, err = m.nl.LinkByName(m.cfg.Device); err != nil {
			return nil, err
		}
	}
	if l.Attrs().HardwareAddr.String() != mac.String() {
		if err := m.nl.LinkSetHardwareAddr(l, mac); err != nil {
			return nil, fmt.Errorf("setting %s's MAC: %w", m.cfg.Device, err)
		}
		m.changed("%s's MAC was %s, want %s", m.cfg.Device, l.Attrs().HardwareAddr, mac)
	}
	if l.Attrs().MTU != mtu {
		if err := m.nl.LinkSetMTU(l, mtu); err != nil {
			return nil, fmt.Errorf("setting %s's MTU: %w", m.cfg.Device, err)
		}
		m.changed("%s's MTU was %d, want %d", m.cfg.Device, l.Attrs().MTU, mtu)
	}
	// Exactly the tunnel address.
	want32 := netip.PrefixFrom(v.TunnelIP, 32)
	addrs, err := m.nl.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	have := false
	for _, a := range addrs {
		p, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		if netip.PrefixFrom(p.Unmap(), ones) == want32 {
			have = true
			continue
		}
		if err := m.nl.AddrDel(l, &a); err != nil {
			return nil, fmt.Errorf("removing %s from %s: %w", a.IPNet, m.cfg.Device, err)
		}
		m.changed("removed address %s from %s", a.IPNet, m.cfg.Device)
	}
	if !have {
		if err := m.nl.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(want32)}); err != nil {
			return nil, fmt.Errorf("adding %s to %s: %w", want32, m.cfg.Device, err)
		}
		m.changed("address %s of %s was missing", want32, m.cfg.Device)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := m.nl.LinkSetUp(l); err != nil {
			return nil, fmt.Errorf("bringing %s up: %w", m.cfg.Device, err)
		}
		m.changed("%s was down", m.cfg.Device)
	}
	return l, nil
}

// syncNeighbours makes the device's ARP and forwarding entries exactly
// the remote VTEPs'.
func (m *Manager) syncNeighbours(dev netlink.Link, remote map[string]proto.VTEPUpdate) []error {
	var errs []error
	idx := dev.Attrs().Index
	wantARP := map[netip.Addr]string{}
	wantFDB := map[string]netip.Addr{}
	for _, v := range remote {
		mac, err := net.ParseMAC(v.MAC)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s's VTEP MAC %q: %w", v.Node, v.MAC, err))
			continue
		}
		wantARP[v.TunnelIP] = mac.String()
		wantFDB[mac.String()] = v.NodeIP
	}
	// ARP: tunnel address → MAC.
	neighs, err := m.nl.NeighList(idx, netlink.FAMILY_V4)
	if err != nil {
		return append(errs, err)
	}
	for _, n := range neighs {
		ip, _ := netip.AddrFromSlice(n.IP)
		if mac, ok := wantARP[ip.Unmap()]; ok && mac == n.HardwareAddr.String() && n.State&netlink.NUD_PERMANENT != 0 {
			delete(wantARP, ip.Unmap())
			continue
		}
		if err := m.nl.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("removing ARP entry %s: %w", n.IP, err))
		} else {
			m.changed("removed ARP entry %s", n.IP)
		}
	}
	for _, ip := range slices.SortedFunc(maps.Keys(wantARP), netip.Addr.Compare) {
		mac, _ := net.ParseMAC(wantARP[ip])
		n := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: mac}
		if err := m.nl.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("ARP entry %s → %s: %w", ip, mac, err))
		} else {
			m.changed("ARP entry %s → %s was missing", ip, mac)
		}
	}
	// Forwarding: MAC → the node's address.
	fdb, err := m.nl.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return append(errs, err)
	}
	for _, n := range fdb {
		mac := n.HardwareAddr.String()
		ip, _ := netip.AddrFromSlice(n.IP)
		if want, ok := wantFDB[mac]; ok && want == ip.Unmap() {
			delete(wantFDB, mac)
			continue
		}
		if n.Flags&netlink.NTF_SELF == 0 || len(n.IP) == 0 {
			continue // the kernel's own entries of the device
		}
		if err := m.nl.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("removing forwarding entry %s: %w", mac, err))
		} else {
			m.changed("removed forwarding entry %s", mac)
		}
	}
	for _, mac := range slices.Sorted(maps.Keys(wantFDB)) {
		hw, _ := net.ParseMAC(mac)
		n := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF,
			IP: wantFDB[mac].AsSlice(), HardwareAddr: hw}
		if err := m.nl.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("forwarding entry %s → %s: %w", mac, wantFDB[mac], err))
		} else {
			m.changed("forwarding entry %s → %s was missing", mac, wantFDB[mac])
		}
	}
	return errs
}

// syncRoutes makes our unicast routes exactly the wanted ones: through
// the device for VXLAN, or to the node on the underlay for direct ones.
func (m *Manager) syncRoutes(dev netlink.Link, routes map[netip.Prefix]proto.RouteUpdate) []error {
	var errs []error
	want := map[netip.Prefix]*netlink.Route{}
	for dst, r := range routes {
		switch r.Type {
		case proto.RouteRemoteVXLAN:
			if dev == nil {
				continue
			}
			want[dst] = &netlink.Route{Dst: prefixNet(dst), Gw: r.Gateway.AsSlice(), LinkIndex: dev.Attrs().Index,
				Flags: int(netlink.FLAG_ONLINK), Protocol: netlink.RouteProtocol(m.cfg.Protocol), Type: unix.RTN_UNICAST}
		case proto.RouteRemoteDirect:
			want[dst] = &netlink.Route{Dst: prefixNet(dst), Gw: r.Gateway.AsSlice(), Protocol: netlink.RouteProtocol(m.cfg.Protocol), Type: unix.RTN_UNICAST}
		}
	}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		have, err := m.nl.RouteListFiltered(family, &netlink.Route{Protocol: netlink.RouteProtocol(m.cfg.Protocol)}, netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range have {
			if r.Type != unix.RTN_UNICAST || r.Dst == nil {
				continue // blackholes are the routes manager's
			}
			ones, _ := r.Dst.Mask.Size()
			a, _ := netip.AddrFromSlice(r.Dst.IP)
			dst := netip.PrefixFrom(a.Unmap(), ones)
			if w, ok := want[dst]; ok && sameRoute(r, w) {
				delete(want, dst)
				continue
			}
			if _, ok := want[dst]; ok {
				continue // replaced below
			}
			if err := m.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("removing route %s: %w", dst, err))
			} else {
				m.changed("removed route %s", dst)
			}
		}
	}
	for _, dst := range slices.SortedFunc(maps.Keys(want), netip.Prefix.Compare) {
		if err := m.nl.RouteReplace(want[dst]); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s: %w", dst, net.IP(want[dst].Gw), err))
		} else {
			m.changed("route %s via %s was missing or different", dst, net.IP(want[dst].Gw))
		}
	}
	return errs
}

func sameRoute(have netlink.Route, want *netlink.Route) bool {
	if !have.Gw.Equal(want.Gw) {
		return false
	}
	if want.LinkIndex != 0 && have.LinkIndex != want.LinkIndex {
		return false
	}
	return have.Flags&int(netlink.FLAG_ONLINK) == want.Flags&int(netlink.FLAG_ONLINK)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
