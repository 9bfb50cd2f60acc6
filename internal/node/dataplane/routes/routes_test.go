package routes_test

import (
	"context"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/node/dataplane/routes"
)

func TestRoutesAndSweep(t *testing.T) {
	netnstest.Require(t)
	node := netnstest.New(t, "rt")
	pod := netnstest.New(t, "rtp")
	run := netnstest.Run
	run(t, "ip", "-n", node, "link", "add", "cali0000000001", "type", "veth", "peer", "name", "eth0", "netns", pod)
	run(t, "ip", "-n", node, "link", "add", "cali0000000002", "type", "veth", "peer", "name", "eth1", "netns", pod)
	run(t, "ip", "-n", node, "link", "add", "other0", "type", "veth", "peer", "name", "eth2", "netns", pod)
	run(t, "ip", "-n", node, "link", "set", "other0", "up")
	run(t, "ip", "-n", node, "link", "set", "cali0000000002", "up")
	// Left by an earlier run: one of ours, on a workload interface nobody
	// wants any more; and routes that are not ours.
	run(t, "ip", "-n", node, "route", "add", "10.66.0.9/32", "dev", "cali0000000002", "proto", "boot")
	run(t, "ip", "-n", node, "route", "add", "10.66.0.8/32", "dev", "cali0000000002", "proto", "static")
	run(t, "ip", "-n", node, "route", "add", "10.66.0.7/32", "dev", "other0", "proto", "boot")

	nl := netnstest.Handle(t, node)
	m, err := routes.New(routes.Config{}, nl, func(key, value string) error {
		return probe.InNamespace(node, func() error { return routes.WriteSysctl(key, value) })
	})
	if err != nil {
		t.Fatal(err)
	}
	m.SetWorkload("cali0000000001", []string{"10.66.0.1/32"})
	m.SetWorkload("cali-not-yet", []string{"10.66.0.3/32"})
	if err := m.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := run(t, "ip", "-n", node, "route")
	for _, want := range []string{"10.66.0.1 dev cali0000000001 scope link", "10.66.0.8 dev cali0000000002 proto static", "10.66.0.7 dev other0"} {
		if !strings.Contains(out, want) {
			t.Errorf("routes lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "10.66.0.9") {
		t.Errorf("a stale route of ours survived:\n%s", out)
	}
	if got := strings.TrimSpace(run(t, "ip", "netns", "exec", node, "cat", "/proc/sys/net/ipv4/conf/cali0000000001/proxy_arp")); got != "1" {
		t.Errorf("proxy_arp = %s", got)
	}
	if !strings.Contains(run(t, "ip", "-n", node, "link", "show", "cali0000000001"), "UP") {
		t.Error("the interface was not set up")
	}
	// The interface appears later: the next Apply routes it.
	run(t, "ip", "-n", node, "link", "add", "cali-not-yet", "type", "veth", "peer", "name", "eth3", "netns", pod)
	m.Kick()
	if err := m.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-n", node, "route"); !strings.Contains(out, "10.66.0.3 dev cali-not-yet") {
		t.Errorf("route of a late interface missing:\n%s", out)
	}
	got, err := m.Programmed()
	if err != nil {
		t.Fatal(err)
	}
	want := []routes.Route{{Destination: "10.66.0.1/32", Interface: "cali0000000001"}, {Destination: "10.66.0.3/32", Interface: "cali-not-yet"}}
	if !slices.Equal(got, want) {
		t.Errorf("Programmed() = %v, want %v", got, want)
	}
	// Removing a workload removes its routes.
	m.RemoveWorkload("cali0000000001")
	if err := m.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-n", node, "route"); strings.Contains(out, "10.66.0.1") {
		t.Errorf("route of a removed workload remains:\n%s", out)
	}
}

// TestBlackholes: this node's blocks are blackholed; a stale blackhole of
// ours goes, someone else's stays; a workload's /32 inside a block still
// wins over the block's blackhole.
func TestBlackholes(t *testing.T) {
	netnstest.Require(t)
	node := netnstest.New(t, "bh")
	pod := netnstest.New(t, "bhp")
	run := netnstest.Run
	run(t, "ip", "-n", node, "link", "add", "cali0000000001", "type", "veth", "peer", "name", "eth0", "netns", pod)
	run(t, "ip", "-n", node, "route", "add", "blackhole", "10.67.0.0/26", "proto", "80")
	run(t, "ip", "-n", node, "route", "add", "blackhole", "10.68.0.0/26")
	nl := netnstest.Handle(t, node)
	m, err := routes.New(routes.Config{}, nl, func(key, value string) error {
		return probe.InNamespace(node, func() error { return routes.WriteSysctl(key, value) })
	})
	if err != nil {
		t.Fatal(err)
	}
	m.SetBlackhole(netip.MustParsePrefix("10.66.1.0/26"))
	m.SetBlackhole(netip.MustParsePrefix("fd00:66::/122"))
	m.SetWorkload("cali0000000001", []string{"10.66.1.1/32"})
	if err := m.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	bh := run(t, "ip", "-n", node, "route", "show", "type", "blackhole")
	for _, want := range []string{"blackhole 10.66.1.0/26 proto 80", "blackhole 10.68.0.0/26"} {
		if !strings.Contains(bh, want) {
			t.Errorf("blackholes lack %q:\n%s", want, bh)
		}
	}
	if strings.Contains(bh, "10.67.0.0") {
		t.Errorf("a stale blackhole of ours survived:\n%s", bh)
	}
	if out := run(t, "ip", "-n", node, "-6", "route", "show", "type", "blackhole"); !strings.Contains(out, "fd00:66::/122") {
		t.Errorf("no IPv6 blackhole:\n%s", out)
	}
	if out := run(t, "ip", "-n", node, "route", "get", "10.66.1.1"); !strings.Contains(out, "dev cali0000000001") {
		t.Errorf("the workload route does not win over the block's blackhole: %s", out)
	}
	if out, err := exec.Command("ip", "-n", node, "route", "get", "10.66.1.2").CombinedOutput(); err == nil && !strings.Contains(string(out), "blackhole") {
		t.Errorf("a free address of the block is routed: %s", out)
	}
	m.RemoveBlackhole(netip.MustParsePrefix("10.66.1.0/26"))
	if err := m.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if bh := run(t, "ip", "-n", node, "route", "show", "type", "blackhole"); strings.Contains(bh, "10.66.1.0") || !strings.Contains(bh, "10.68.0.0") {
		t.Errorf("after removal:\n%s", bh)
	}
}

// TestRepairsWhatOthersChanged: routes deleted or added behind the
// manager's back are put right at the next reconcile (Felix kicks it every
// routeRefreshInterval) and reported as repairs; routine changes and a
// reconcile with nothing to do report none. Every interface prefix counts
// (Felix's interfacePrefix "cali,tap").
func TestRepairsWhatOthersChanged(t *testing.T) {
	netnstest.Require(t)
	node := netnstest.New(t, "rtfix")
	pod := netnstest.New(t, "rtfixp")
	run := netnstest.Run
	run(t, "ip", "-n", node, "link", "add", "cali0000000001", "type", "veth", "peer", "name", "eth0", "netns", pod)
	run(t, "ip", "-n", node, "link", "add", "tap0000000002", "type", "veth", "peer", "name", "eth1", "netns", pod)
	run(t, "ip", "-n", node, "link", "add", "tap0000000003", "type", "veth", "peer", "name", "eth2", "netns", pod)
	run(t, "ip", "-n", node, "link", "set", "tap0000000003", "up")
	// Left by an earlier run on an interface nobody wants: swept, not a repair.
	run(t, "ip", "-n", node, "route", "add", "10.70.0.9/32", "dev", "tap0000000003", "proto", "boot")
	var repaired []string
	nl := netnstest.Handle(t, node)
	m, err := routes.New(routes.Config{InterfacePrefixes: []string{"cali", "tap"}, Repaired: func(s string) { repaired = append(repaired, s) }}, nl,
		func(key, value string) error {
			return probe.InNamespace(node, func() error { return routes.WriteSysctl(key, value) })
		})
	if err != nil {
		t.Fatal(err)
	}
	m.SetWorkload("cali0000000001", []string{"10.70.0.1/32"})
	m.SetWorkload("tap0000000002", []string{"10.70.0.2/32"})
	m.SetBlackhole(netip.MustParsePrefix("10.70.0.0/26"))
	reconcile := func() []string {
		t.Helper()
		repaired = nil
		m.Kick()
		if err := m.Apply(context.Background()); err != nil {
			t.Fatal(err)
		}
		return repaired
	}
	if got := reconcile(); len(got) != 0 {
		t.Errorf("first programming reported repairs %v", got)
	}
	out := run(t, "ip", "-n", node, "route")
	if !strings.Contains(out, "10.70.0.2 dev tap0000000002") || strings.Contains(out, "10.70.0.9") {
		t.Fatalf("the second prefix's interfaces are not handled:\n%s", out)
	}
	if got := reconcile(); len(got) != 0 {
		t.Errorf("a reconcile with nothing changed reported repairs %v", got)
	}
	if got, _ := m.Programmed(); len(got) != 2 {
		t.Errorf("Programmed() = %v, want the routes on both prefixes' interfaces", got)
	}

	run(t, "ip", "-n", node, "route", "del", "10.70.0.1/32", "dev", "cali0000000001")
	run(t, "ip", "-n", node, "route", "del", "blackhole", "10.70.0.0/26")
	run(t, "ip", "-n", node, "route", "add", "10.70.0.7/32", "dev", "tap0000000002", "proto", "boot")
	run(t, "ip", "-n", node, "route", "add", "10.70.0.8/32", "dev", "tap0000000003", "proto", "boot")
	got := reconcile()
	slices.Sort(got)
	want := []string{
		"blackhole route 10.70.0.0/26 was missing",
		"deleted route 10.70.0.7/32 on tap0000000002, which was not ours to have",
		"deleted route 10.70.0.8/32 on tap0000000003, which routes no workload",
		"route 10.70.0.1/32 via cali0000000001 was missing",
	}
	if !slices.Equal(got, want) {
		t.Errorf("repairs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	out = run(t, "ip", "-n", node, "route")
	if !strings.Contains(out, "10.70.0.1 dev cali0000000001") || !strings.Contains(out, "blackhole 10.70.0.0/26") ||
		strings.Contains(out, "10.70.0.7") || strings.Contains(out, "10.70.0.8") {
		t.Errorf("after the repair:\n%s", out)
	}
	// A workload that goes away is routine, not a repair.
	m.RemoveWorkload("tap0000000002")
	if got := reconcile(); len(got) != 0 {
		t.Errorf("removing a workload reported repairs %v", got)
	}
	if out := run(t, "ip", "-n", node, "route"); strings.Contains(out, "10.70.0.2") {
		t.Errorf("route of a removed workload remains:\n%s", out)
	}
}
