package vxlan

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/proto"
)

type node struct {
	name, ns, pod string
	ip, tunnel    netip.Addr
	mac           string
	block         netip.Prefix
	podIP         netip.Addr
	m             *Manager
}

// setup: two nodes on one link, each with a pod behind a veth (its
// address routed to the veth, as the CNI plugin does).
func setup(t *testing.T) (a, b *node) {
	netnstest.Require(t)
	a = &node{name: "node-a", ns: netnstest.New(t, "vx-a"), pod: netnstest.New(t, "vx-pa"), ip: netip.MustParseAddr("172.29.0.1"),
		tunnel: netip.MustParseAddr("10.66.1.0"), mac: "66:00:00:00:01:01", block: netip.MustParsePrefix("10.66.1.0/26"), podIP: netip.MustParseAddr("10.66.1.5")}
	b = &node{name: "node-b", ns: netnstest.New(t, "vx-b"), pod: netnstest.New(t, "vx-pb"), ip: netip.MustParseAddr("172.29.0.2"),
		tunnel: netip.MustParseAddr("10.66.2.0"), mac: "66:00:00:00:02:02", block: netip.MustParsePrefix("10.66.2.0/26"), podIP: netip.MustParseAddr("10.66.2.5")}
	netnstest.Run(t, "ip", "-n", a.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b.ns)
	for _, n := range []*node{a, b} {
		run := func(args ...string) { netnstest.Run(t, append([]string{"ip", "-n", n.ns}, args...)...) }
		run("addr", "add", n.ip.String()+"/24", "dev", "eth0")
		run("link", "set", "eth0", "up")
		run("route", "add", "default", "dev", "eth0")
		netnstest.Run(t, "ip", "netns", "exec", n.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		run("link", "add", "cali0", "type", "veth", "peer", "name", "eth0", "netns", n.pod)
		run("link", "set", "cali0", "up")
		run("route", "add", n.podIP.String()+"/32", "dev", "cali0")
		netnstest.Run(t, "ip", "netns", "exec", n.ns, "sysctl", "-qw", "net.ipv4.conf.cali0.proxy_arp=1")
		netnstest.Run(t, "ip", "netns", "exec", n.ns, "sysctl", "-qw", "net.ipv4.neigh.cali0.proxy_delay=0")
		netnstest.Run(t, "ip", "-n", n.pod, "addr", "add", n.podIP.String()+"/32", "dev", "eth0")
		netnstest.Run(t, "ip", "-n", n.pod, "link", "set", "eth0", "up")
		netnstest.Run(t, "ip", "-n", n.pod, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
		netnstest.Run(t, "ip", "-n", n.pod, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
		m, err := New(Config{}, netnstest.Handle(t, n.ns))
		if err != nil {
			t.Fatal(err)
		}
		n.m = m
	}
	return a, b
}

func (n *node) vtep() proto.VTEPUpdate {
	return proto.VTEPUpdate{Node: n.name, NodeIP: n.ip, TunnelIP: n.tunnel, MAC: n.mac}
}

func program(t *testing.T, self, other *node) {
	t.Helper()
	v := self.vtep()
	self.m.SetLocalVTEP(&v)
	self.m.SetVTEP(other.vtep())
	self.m.SetRoute(proto.RouteUpdate{Dst: other.block, Type: proto.RouteRemoteVXLAN, Node: other.name, Gateway: other.tunnel})
	if err := self.m.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func reach(t *testing.T, from, to *node) bool {
	t.Helper()
	srv, err := probe.Serve(to.pod, to.name, []probe.Port{{Protocol: "TCP", Port: 80}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		r, err := probe.Connect(from.pod, "TCP", to.podIP.String(), 80, time.Second)
		if err == nil && r.Connected {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func show(t *testing.T, ns string, args ...string) string {
	return netnstest.Run(t, append([]string{"ip", "-n", ns}, args...)...)
}

// Two nodes: the device, ARP and forwarding entries and routes make pod
// traffic cross in VXLAN; the device carries the node's tunnel address and
// MAC with learning off; removing the other node removes exactly its
// entries; a manager started afresh (a restart) removes what is no longer
// wanted; without a local VTEP the device goes.
func TestOverlay(t *testing.T) {
	a, b := setup(t)
	program(t, a, b)
	program(t, b, a)
	if !reach(t, a, b) || !reach(t, b, a) {
		t.Fatal("pods cannot reach each other over VXLAN")
	}
	dev := show(t, a.ns, "-d", "link", "show", DefaultDevice)
	for _, want := range []string{"vxlan id 4096", "local 172.29.0.1", "dstport 4789", "nolearning", a.mac} {
		if !strings.Contains(dev, want) {
			t.Errorf("device lacks %q:\n%s", want, dev)
		}
	}
	if addr := show(t, a.ns, "addr", "show", "dev", DefaultDevice); !strings.Contains(addr, "inet 10.66.1.0/32") {
		t.Errorf("device address:\n%s", addr)
	}
	if r := show(t, a.ns, "route", "show", b.block.String()); !strings.Contains(r, "via 10.66.2.0 dev vxlan.calico proto 80 onlink") {
		t.Errorf("route to b's block: %q", r)
	}
	if n := show(t, a.ns, "neigh", "show", "dev", DefaultDevice); !strings.Contains(n, "10.66.2.0 lladdr "+b.mac+" PERMANENT") {
		t.Errorf("ARP entries: %q", n)
	}
	if f := netnstest.Run(t, "bridge", "-n", a.ns, "fdb", "show", "dev", DefaultDevice); !strings.Contains(f, b.mac+" dst 172.29.0.2 self permanent") {
		t.Errorf("forwarding entries: %q", f)
	}

	// A CrossSubnet pool's block on a same-subnet node: straight to the
	// node, no tunnel.
	direct := netip.MustParsePrefix("10.67.2.0/26")
	a.m.SetRoute(proto.RouteUpdate{Dst: direct, Type: proto.RouteRemoteDirect, Node: b.name, Gateway: b.ip})
	if err := a.m.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := show(t, a.ns, "route", "show", direct.String()); !strings.Contains(r, "via 172.29.0.2 dev eth0 proto 80") {
		t.Errorf("direct route: %q", r)
	}
	a.m.RemoveRoute(direct)

	// A blackhole of the routes manager (same protocol) is not ours.
	netnstest.Run(t, "ip", "-n", a.ns, "route", "add", "blackhole", a.block.String(), "proto", "80")
	// node-b goes from node-a's view.
	a.m.RemoveRoute(b.block)
	a.m.RemoveVTEP(b.name)
	if err := a.m.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := show(t, a.ns, "route", "show", b.block.String()); r != "" {
		t.Errorf("route to b's block still there: %q", r)
	}
	if n := show(t, a.ns, "neigh", "show", "dev", DefaultDevice); strings.Contains(n, "10.66.2.0") {
		t.Errorf("ARP entry still there: %q", n)
	}
	if r := show(t, a.ns, "route", "show", a.block.String()); !strings.Contains(r, "blackhole") {
		t.Errorf("the routes manager's blackhole was removed: %q", r)
	}

	// A restart that no longer wants b's entries (b's VTEP back, but
	// nothing routed): a fresh manager programs exactly that.
	program(t, a, b)
	fresh, err := New(Config{}, netnstest.Handle(t, a.ns))
	if err != nil {
		t.Fatal(err)
	}
	v := a.vtep()
	fresh.SetLocalVTEP(&v)
	if err := fresh.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := show(t, a.ns, "route", "show", b.block.String()); r != "" {
		t.Errorf("after the restart a stale route remains: %q", r)
	}
	if f := netnstest.Run(t, "bridge", "-n", a.ns, "fdb", "show", "dev", DefaultDevice); strings.Contains(f, b.mac) {
		t.Errorf("after the restart a stale forwarding entry remains: %q", f)
	}
	// No local VTEP: no device.
	fresh.SetLocalVTEP(nil)
	if err := fresh.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := show(t, a.ns, "link", "show"); strings.Contains(out, DefaultDevice) {
		t.Errorf("device still there:\n%s", out)
	}
}

// TestRepairsWhatOthersChanged: with nothing asked to change, a kick (as
// Felix's routeRefreshInterval gives) puts back what someone deleted or
// changed, and says so; a kick with nothing wrong says nothing.
func TestRepairsWhatOthersChanged(t *testing.T) {
	a, b := setup(t)
	var repaired []string
	a.m.cfg.Repaired = func(s string) { repaired = append(repaired, s) }
	program(t, a, b)
	program(t, b, a)
	kick := func() []string {
		t.Helper()
		repaired = nil
		a.m.Kick()
		if err := a.m.Apply(context.Background()); err != nil {
			t.Fatal(err)
		}
		return repaired
	}
	if got := kick(); len(got) != 0 {
		t.Errorf("a kick with nothing wrong repaired %v", got)
	}
	show(t, a.ns, "route", "del", b.block.String())
	show(t, a.ns, "neigh", "del", b.tunnel.String(), "dev", DefaultDevice)
	show(t, a.ns, "link", "set", DefaultDevice, "down")
	got := kick()
	for _, want := range []string{"vxlan.calico was down", "ARP entry 10.66.2.0 → 66:00:00:00:02:02 was missing", "route 10.66.2.0/26 via 10.66.2.0 was missing or different"} {
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			t.Errorf("repairs %q lack %q", got, want)
		}
	}
	if !reach(t, a, b) {
		t.Error("pods cannot reach each other after the repair")
	}
	if got := kick(); len(got) != 0 {
		t.Errorf("a kick after the repair repaired %v", got)
	}
	// A routine change is not a repair.
	a.m.RemoveRoute(b.block)
	if err := a.m.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(repaired) != 0 {
		t.Errorf("a routine change counted as a repair: %v", repaired)
	}
}
