package cni

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
)

// TestRouteListErrorFailsSetup: when the host's routes cannot be listed,
// the guard against an address already routed to another interface cannot
// work, so Setup fails (and removes what it made) instead of wiring the
// pod unchecked; Check reports the error too, rather than a missing route.
func TestRouteListErrorFailsSetup(t *testing.T) {
	netnstest.Require(t)
	hostNS := netnstest.New(t, "cnirt")
	podNS := netnstest.New(t, "cnirtpod")
	w := Wiring{HostIface: "calirttest0", Netns: "/var/run/netns/" + podNS, IfName: "eth0", MTU: 1500,
		IPs: []netip.Addr{netip.MustParseAddr("10.79.0.5")}}
	real := routesTo
	t.Cleanup(func() { routesTo = real })
	routesTo = func(*netlink.Handle, int, *netlink.Route, uint64) ([]netlink.Route, error) {
		return nil, errors.New("injected: netlink dump interrupted")
	}
	// Setup works in the calling thread's namespace: the sandbox node's.
	err := probe.InNamespace(hostNS, func() error { _, err := Setup(w); return err })
	if err == nil || !strings.Contains(err.Error(), "listing the host's routes to 10.79.0.5") || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("Setup with the routes unreadable: %v", err)
	}
	if _, err := netnstest.Handle(t, hostNS).LinkByName(w.HostIface); err == nil {
		t.Errorf("the failed Setup left %s behind", w.HostIface)
	}
	if _, err := netnstest.Handle(t, podNS).LinkByName(w.IfName); err == nil {
		t.Errorf("the failed Setup left the pod's %s behind", w.IfName)
	}

	routesTo = real
	if err := probe.InNamespace(hostNS, func() error { _, err := Setup(w); return err }); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	routesTo = func(*netlink.Handle, int, *netlink.Route, uint64) ([]netlink.Route, error) {
		return nil, errors.New("injected: netlink dump interrupted")
	}
	err = probe.InNamespace(hostNS, func() error { return Check(w) })
	if err == nil || !strings.Contains(err.Error(), "listing the host's routes to 10.79.0.5") {
		t.Errorf("Check with the routes unreadable: %v", err)
	}
}
