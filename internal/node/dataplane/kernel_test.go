package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/dataplane/nft"
	"github.com/calicong/calico/internal/node/dataplane/routes"
	"github.com/calicong/calico/internal/proto"
)

const nodeName = "node-1"

// testNode is a node in a network namespace with pods in namespaces of
// their own, wired as the CNI plugin would (veth caliXXXX ↔ eth0, /32
// routes, 169.254.1.1 as the pods' gateway answered by proxy ARP), an
// external peer on an uplink, and a dataplane programming the node's
// nftables through the policy engine.
type testNode struct {
	t      testing.TB
	node   string // node namespace
	ext    string // external peer namespace (192.168.100.2)
	pods   map[string]*testPod
	graph  *calc.Graph
	dp     *Dataplane
	runner nft.Runner
	routes *routes.Manager
	kvs    map[model.Key]any
}

// newRoutes makes a route manager working in a namespace.
func newRoutes(t testing.TB, ns string) *routes.Manager {
	t.Helper()
	m, err := routes.New(routes.Config{}, netnstest.Handle(t, ns), func(key, value string) error {
		return probe.InNamespace(ns, func() error { return routes.WriteSysctl(key, value) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type testPod struct {
	ns, name, ip, ip6, netns, iface string
	server                          *probe.Server
}

// hostVethMAC is the MAC of a workload interface's host side; the pod's
// IPv6 gateway is the link-local address derived from it.
const (
	hostVethMAC = "ee:ee:ee:ee:ee:ee"
	podGateway6 = "fe80::ecee:eeff:feee:eeee"
)

var probePorts = []probe.Port{{Protocol: "TCP", Port: 80}, {Protocol: "TCP", Port: 81}, {Protocol: "UDP", Port: 80}, {Protocol: "UDP", Port: 81}}

func sysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	err := probe.InNamespace(ns, func() error {
		return os.WriteFile(filepath.Join("/proc/sys", filepath.FromSlash(key)), []byte(value), 0o644)
	})
	if err != nil {
		t.Fatalf("sysctl %s=%s in %s: %v", key, value, ns, err)
	}
}

func newTestNode(t testing.TB, dpcfg Config) *testNode {
	t.Helper()
	netnstest.Require(t)
	n := &testNode{t: t, node: netnstest.New(t, "node"), ext: netnstest.New(t, "ext"), pods: map[string]*testPod{}, kvs: map[model.Key]any{}}
	run := netnstest.Run
	// No duplicate address detection: addresses are usable at once.
	sysctl(t, n.node, "net/ipv6/conf/default/accept_dad", "0")
	sysctl(t, n.ext, "net/ipv6/conf/default/accept_dad", "0")
	run(t, "ip", "-n", n.node, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", n.ext)
	run(t, "ip", "-n", n.node, "addr", "add", "192.168.100.1/24", "dev", "uplink")
	run(t, "ip", "-n", n.node, "link", "set", "uplink", "up")
	run(t, "ip", "-n", n.ext, "addr", "add", "192.168.100.2/24", "dev", "eth0")
	run(t, "ip", "-n", n.ext, "link", "set", "eth0", "up")
	run(t, "ip", "-n", n.ext, "route", "add", "10.65.0.0/16", "via", "192.168.100.1")
	// Proxy ARP for 169.254.1.1 needs a route towards it: a default route.
	run(t, "ip", "-n", n.node, "route", "add", "default", "via", "192.168.100.2")
	sysctl(t, n.node, "net/ipv4/ip_forward", "1")
	// IPv6: the same, with fd00:100::/64 on the uplink and pods in
	// fd00:65::/64.
	run(t, "ip", "-n", n.node, "addr", "add", "fd00:100::1/64", "dev", "uplink", "nodad")
	run(t, "ip", "-n", n.ext, "addr", "add", "fd00:100::2/64", "dev", "eth0", "nodad")
	run(t, "ip", "-n", n.ext, "route", "add", "fd00:65::/64", "via", "fd00:100::1")
	run(t, "ip", "-n", n.node, "-6", "route", "add", "default", "via", "fd00:100::2")
	sysctl(t, n.node, "net/ipv6/conf/all/forwarding", "1")

	// Element-only changes go over netlink, as calico-node writes them.
	n.runner = nft.Runner{Prefix: netnstest.Exec(n.node), Elements: &nft.NetlinkElements{NetNS: n.node}}
	n.routes = newRoutes(t, n.node)
	dp, err := New(dpcfg, n.runner, n.routes)
	if err != nil {
		t.Fatal(err)
	}
	n.dp = dp
	host := calc.HostSettings{FailsafeInbound: dpcfg.FailsafeInbound, FailsafeOutbound: dpcfg.FailsafeOutbound,
		DefaultEndpointToHostAction: dpcfg.DefaultEndpointToHostAction}
	n.graph = calc.New(calc.Config{Hostname: nodeName, Host: host}, func(msgs []proto.Message) {
		if err := dp.OnMessages(msgs); err != nil {
			t.Errorf("dataplane: %v", err)
		}
	})
	t.Cleanup(func() {
		for _, p := range n.pods {
			if p.server != nil {
				p.server.Close()
			}
		}
	})
	return n
}

// addPod creates a pod's namespace and veth and starts its servers.
func (n *testNode) addPod(ns, name, ip string, labels map[string]string) *testPod {
	n.t.Helper()
	return n.addDualPod(ns, name, ip, "", labels)
}

// addDualPod is addPod with an IPv6 address too (if ip6 is not "").
func (n *testNode) addDualPod(ns, name, ip, ip6 string, labels map[string]string) *testPod {
	t := n.t
	t.Helper()
	p := &testPod{ns: ns, name: name, ip: ip, ip6: ip6, netns: netnstest.New(t, "pod"), iface: conversion.VethName(ns, name)}
	run := netnstest.Run
	sysctl(t, p.netns, "net/ipv6/conf/default/accept_dad", "0")
	run(t, "ip", "-n", n.node, "link", "add", p.iface, "address", hostVethMAC, "type", "veth", "peer", "name", "eth0", "netns", p.netns)
	run(t, "ip", "-n", p.netns, "addr", "add", ip+"/32", "dev", "eth0")
	run(t, "ip", "-n", p.netns, "link", "set", "eth0", "up")
	run(t, "ip", "-n", p.netns, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
	run(t, "ip", "-n", p.netns, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
	if ip6 != "" {
		run(t, "ip", "-n", p.netns, "addr", "add", ip6+"/128", "dev", "eth0", "nodad")
		run(t, "ip", "-n", p.netns, "-6", "route", "add", "default", "via", podGateway6, "dev", "eth0")
	}
	// The host side's routes and settings are the dataplane's job.
	srv, err := probe.Serve(p.netns, ns+"/"+name, probePorts)
	if err != nil {
		t.Fatal(err)
	}
	p.server = srv
	n.pods[ns+"/"+name] = p
	wep := wepFor(ns, name, ip, ip6, labels)
	n.set(model.Key{Kind: model.KindWorkloadEndpoint, Namespace: ns, Name: wep.Name}, wep)
	return p
}

// set changes the datastore state seen by the graph.
func (n *testNode) set(key model.Key, value any) {
	if value == nil {
		delete(n.kvs, key)
	} else {
		n.kvs[key] = value
	}
	n.graph.OnUpdates([]model.Update{{KVPair: model.KVPair{Key: key, Value: value}}})
}

// sync flushes the graph and programs the kernel.
func (n *testNode) sync() {
	n.t.Helper()
	n.graph.OnStatusUpdated(model.InSync)
	n.graph.Flush()
	if err := n.dp.Apply(context.Background()); err != nil {
		n.t.Fatalf("apply: %v", err)
	}
}

// probeResult is what a packet did in the kernel and what the oracle says.
type probeResult struct {
	from, to  string
	proto     string
	port      int
	connected bool
	oracle    calc.Trace
}

// probeAll probes every pair (and the external peer as a source) on the
// given protocol/port combinations, in parallel.
func (n *testNode) probeAll(probes []probe.Port) []probeResult {
	n.t.Helper()
	return n.probeAllFamily(probes, false)
}

// probeAllFamily is probeAll over IPv4 or IPv6 (pods with both).
func (n *testNode) probeAllFamily(probes []probe.Port, v6 bool) []probeResult {
	t := n.t
	t.Helper()
	addr := func(p *testPod) string {
		if v6 {
			return p.ip6
		}
		return p.ip
	}
	type src struct{ name, netns, ip string }
	var srcs []src
	for k, p := range n.pods {
		srcs = append(srcs, src{k, p.netns, addr(p)})
	}
	if v6 {
		srcs = append(srcs, src{"external", n.ext, "fd00:100::2"})
	} else {
		srcs = append(srcs, src{"external", n.ext, "192.168.100.2"})
	}
	var mu sync.Mutex
	var out []probeResult
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, s := range srcs {
		for k, dst := range n.pods {
			if k == s.name {
				continue
			}
			for _, pr := range probes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					tr := n.graph.Evaluate(packetFor(s.ip, addr(dst), pr))
					once := func() probeResult {
						res, err := probe.Connect(s.netns, pr.Protocol, addr(dst), pr.Port, 1500*time.Millisecond)
						if err != nil {
							t.Errorf("probe %s → %s: %v", s.name, k, err)
						}
						if res.Connected && res.Reply != "" && res.Reply != k {
							t.Errorf("probe %s → %s reached %q", s.name, k, res.Reply)
						}
						return probeResult{s.name, k, pr.Protocol, pr.Port, res.Connected, tr}
					}
					r := untilConnected(once(), once)
					mu.Lock()
					out = append(out, r)
					mu.Unlock()
				}()
			}
		}
	}
	wg.Wait()
	return out
}

// retry probes again, for up to 4 s, while the probe did not connect. A
// first connection from a new pod can outlast one probe's timeout on a
// loaded machine (neighbour resolution, a lost SYN), so a connection that
// should succeed gets a few tries; one that should fail is never retried
// into passing, since a policy that wrongly drops fails every try.
func retry(r probeResult, again func() probeResult) probeResult {
	for deadline := time.Now().Add(4 * time.Second); !r.connected && time.Now().Before(deadline); {
		r = again()
	}
	return r
}

// untilConnected is retry for a probe the oracle allows, and the probe
// itself otherwise.
func untilConnected(r probeResult, again func() probeResult) probeResult {
	if r.oracle.Verdict != "Allow" {
		return r
	}
	return retry(r, again)
}

// packetFor is the oracle's view of a probe's first packet.
func packetFor(src, dst string, pr probe.Port) calc.Packet {
	pkt := calc.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		Protocol: 6, SrcPort: 40000, DstPort: uint16(pr.Port), ICMPType: -1, ICMPCode: -1}
	switch pr.Protocol {
	case "UDP":
		pkt.Protocol = 17
	case "SCTP":
		pkt.Protocol = 132
	case "ICMP":
		pkt.Protocol, pkt.DstPort, pkt.SrcPort, pkt.ICMPType, pkt.ICMPCode = 1, 0, 0, 8, 0
		if pkt.Src.Is6() {
			pkt.Protocol, pkt.ICMPType = 58, 128
		}
	}
	return pkt
}

// agree fails the test for every probe where the kernel and the oracle
// disagree, and returns how many probes connected.
func agree(t *testing.T, results []probeResult) (allowed int) {
	t.Helper()
	for _, r := range results {
		if r.connected {
			allowed++
		}
		if r.connected != (r.oracle.Verdict == "Allow") {
			via := ""
			for _, d := range r.oracle.Via {
				via += fmt.Sprintf(", via %+v", *d)
			}
			t.Errorf("%s → %s %s/%d: kernel connected=%v, oracle says %s (egress %+v%s, ingress %+v)",
				r.from, r.to, r.proto, r.port, r.connected, r.oracle.Verdict, *r.oracle.Egress, via, *r.oracle.Ingress)
		}
	}
	return allowed
}

func describe(results []probeResult) string {
	s := ""
	for _, r := range results {
		s += fmt.Sprintf("%s → %s %s/%d %v\n", r.from, r.to, r.proto, r.port, r.connected)
	}
	return s
}
