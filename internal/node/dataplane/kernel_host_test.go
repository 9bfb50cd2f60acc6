package dataplane

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/model"
)

// Host-endpoint tests: a node whose uplink (192.168.100.1) leads to an
// external peer (192.168.100.2), with servers on the host itself, on the
// peer and in pods. Every probe is compared with the oracle behind
// calicoq trace, which follows the packet through the same stages as the
// dataplane (failsafe ports, untracked, pre-DNAT, host and forward
// policy, DefaultEndpointToHostAction).

const (
	hostAddr = "192.168.100.1"
	extAddr  = "192.168.100.2"
)

var (
	hostPorts = []probe.Port{{Protocol: "TCP", Port: 22}, {Protocol: "TCP", Port: 2222}, {Protocol: "TCP", Port: 2223},
		{Protocol: "TCP", Port: 8080}, {Protocol: "TCP", Port: 9000}}
	extPorts = []probe.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 53}}
)

// hostNode is a test node with a host endpoint on its uplink (or on all
// interfaces), servers on the host and the peer, and pods x/a and x/b.
func hostNode(t *testing.T, iface string, cfg Config) *testNode {
	cfg.FailsafeInbound = []FailsafePort{{Protocol: "TCP", Port: 22},
		// Failsafe only from a network: the peer's, and one it is not in.
		{Protocol: "TCP", Port: 2222, Net: netip.MustParsePrefix("192.168.100.0/24")},
		{Protocol: "TCP", Port: 2223, Net: netip.MustParsePrefix("10.99.0.0/16")}}
	cfg.FailsafeOutbound = []FailsafePort{{Protocol: "UDP", Port: 53}}
	n := newTestNode(t, cfg)
	n.tiers()
	n.namespace("x", nil)
	n.addPod("x", "a", "10.65.0.1", map[string]string{"pod": "a"})
	n.addPod("x", "b", "10.65.0.2", map[string]string{"pod": "b"})
	srv, err := probe.Serve(n.node, "host", hostPorts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ext, err := probe.Serve(n.ext, "external", extPorts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ext.Close)
	n.set(model.Key{Kind: "HostEndpoint", Name: "node-1-uplink"}, &v3.HostEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1-uplink", Labels: map[string]string{"host": "yes"}},
		Spec: v3.HostEndpointSpec{Node: nodeName, InterfaceName: iface, ExpectedIPs: []string{hostAddr},
			Profiles: []string{v3.DefaultAllowProfile}},
	})
	return n
}

// place is a sender or receiver: "ext", "host" or a pod.
type place struct {
	netns, addr string
	ports       []probe.Port // what it serves
}

func (n *testNode) place(name string) place {
	switch name {
	case "ext":
		return place{n.ext, extAddr, extPorts}
	case "host":
		return place{n.node, hostAddr, hostPorts}
	}
	p := n.pods[name]
	return place{p.netns, p.ip, []probe.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 81}}}
}

// hostProbe sends one probe and asks the oracle about it.
func (n *testNode) hostProbe(t *testing.T, from, to string, pr probe.Port) probeResult {
	t.Helper()
	src, dst := n.place(from), n.place(to)
	res, err := probe.Connect(src.netns, pr.Protocol, dst.addr, pr.Port, time.Second)
	if err != nil {
		t.Fatalf("probe %s → %s: %v", from, to, err)
	}
	pkt := packetFor(src.addr, dst.addr, pr)
	pkt.FromHost, pkt.ToHost = from == "host", to == "host"
	if from == "ext" {
		pkt.InInterface = "uplink"
	}
	if to == "ext" {
		pkt.OutInterface = "uplink"
	}
	return probeResult{from: from, to: to, proto: pr.Protocol, port: pr.Port, connected: res.Connected, oracle: n.graph.Evaluate(pkt)}
}

// expect probes, requires the kernel to do what the test says, and the
// oracle to agree with the kernel.
func (n *testNode) expect(t *testing.T, what, from, to, proto string, port int, want bool) {
	t.Helper()
	again := func() probeResult { return n.hostProbe(t, from, to, probe.Port{Protocol: proto, Port: port}) }
	r := again()
	if want {
		r = retry(r, again)
	}
	if r.connected != want {
		t.Errorf("%s: connected=%v, want %v", what, r.connected, want)
	}
	agree(t, []probeResult{r})
}

// probeHostPaths probes every pair of places on the ports each serves.
func (n *testNode) probeHostPaths(t *testing.T) []probeResult {
	names := []string{"ext", "host"}
	for k := range n.pods {
		names = append(names, k)
	}
	var mu sync.Mutex
	var out []probeResult
	var wg sync.WaitGroup
	for _, from := range names {
		for _, to := range names {
			if from == to {
				continue
			}
			for _, pr := range n.place(to).ports {
				wg.Go(func() {
					r := untilConnected(n.hostProbe(t, from, to, pr), func() probeResult { return n.hostProbe(t, from, to, pr) })
					mu.Lock()
					out = append(out, r)
					mu.Unlock()
				})
			}
		}
	}
	wg.Wait()
	return out
}

func TestHostEndpointPolicyAndFailsafe(t *testing.T) {
	for _, iface := range []string{"uplink", "*"} {
		t.Run("interface "+iface, func(t *testing.T) {
			n := hostNode(t, iface, Config{})
			n.sync()
			n.expect(t, "external → host:8080, default-allow profile", "ext", "host", "TCP", 8080, true)

			// Only 9000 in; nothing out.
			n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "host"}, Spec: v3.GlobalNetworkPolicySpec{
				Selector: "host == 'yes'",
				Ingress:  []v3.Rule{{Action: v3.Allow, Protocol: tcpProto(), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(9000)}}}},
				Egress:   []v3.Rule{},
				Types:    []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress},
			}})
			n.sync()
			n.expect(t, "external → host:8080", "ext", "host", "TCP", 8080, false)
			n.expect(t, "external → host:9000", "ext", "host", "TCP", 9000, true)
			n.expect(t, "external → host:22 (failsafe)", "ext", "host", "TCP", 22, true)
			n.expect(t, "external → host:2222 (failsafe from its network)", "ext", "host", "TCP", 2222, true)
			n.expect(t, "external → host:2223 (failsafe from another network)", "ext", "host", "TCP", 2223, false)
			n.expect(t, "host → external:80", "host", "ext", "TCP", 80, false)
			n.expect(t, "host → external udp:53 (failsafe)", "host", "ext", "UDP", 53, true)
			// Forwarded traffic is untouched without applyOnForward; the
			// host may always reach its own pods; pods may not reach the
			// host (DefaultEndpointToHostAction Drop) but may go out.
			n.expect(t, "external → pod (forwarded)", "ext", "x/a", "TCP", 80, true)
			n.expect(t, "host → pod", "host", "x/a", "TCP", 80, true)
			n.expect(t, "pod → host", "x/a", "host", "TCP", 8080, false)
			n.expect(t, "pod → external", "x/a", "ext", "TCP", 80, true)
		})
	}
}

func TestHostEndpointForwardPreDNATAndUntracked(t *testing.T) {
	n := hostNode(t, "uplink", Config{})
	// Forwarded traffic from the outside to pods is denied on the uplink.
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "no-forward-in"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "host == 'yes'", ApplyOnForward: true,
		Ingress: []v3.Rule{{Action: v3.Deny, Source: v3.EntityRule{Nets: []string{"192.168.100.0/24"}}, Destination: v3.EntityRule{Nets: []string{"10.65.0.0/16"}}}, {Action: v3.Allow}},
		Egress:  []v3.Rule{{Action: v3.Allow}},
	}})
	n.sync()
	n.expect(t, "external → pod with an applyOnForward deny", "ext", "x/a", "TCP", 80, false)
	n.expect(t, "external → host:8080 (the rule is for pods)", "ext", "host", "TCP", 8080, true)
	n.expect(t, "pod → external, allowed on forward", "x/a", "ext", "TCP", 80, true)

	// Forwarded ingress allowed, but the pod's own policy still applies
	// after it.
	n.set(model.Key{Kind: "GlobalNetworkPolicy", Name: "no-forward-in"}, nil)
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "forward-ok"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "host == 'yes'", ApplyOnForward: true,
		Ingress: []v3.Rule{{Action: v3.Allow}}, Egress: []v3.Rule{{Action: v3.Allow}},
	}})
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "pod-a-closed"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "pod == 'a'", Types: []v3.PolicyType{v3.PolicyTypeIngress},
	}})
	n.sync()
	n.expect(t, "external → pod a: forward allows, pod policy denies", "ext", "x/a", "TCP", 80, false)
	n.expect(t, "external → pod b: forward allows, no pod policy", "ext", "x/b", "TCP", 80, true)
	n.set(model.Key{Kind: "GlobalNetworkPolicy", Name: "forward-ok"}, nil)
	n.set(model.Key{Kind: "GlobalNetworkPolicy", Name: "pod-a-closed"}, nil)

	// Pre-DNAT: deny port 9000 before anything else, even though the
	// normal policy allows everything.
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "prednat"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "host == 'yes'", PreDNAT: true, ApplyOnForward: true,
		Ingress: []v3.Rule{{Action: v3.Deny, Protocol: tcpProto(), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(9000)}}}},
	}})
	n.sync()
	n.expect(t, "external → host:9000 denied pre-DNAT", "ext", "host", "TCP", 9000, false)
	n.expect(t, "external → host:8080 not matched pre-DNAT", "ext", "host", "TCP", 8080, true)
	n.expect(t, "external → host:22 failsafe before pre-DNAT policy", "ext", "host", "TCP", 22, true)

	// Untracked: allowed both ways without connection tracking.
	n.set(model.Key{Kind: "GlobalNetworkPolicy", Name: "prednat"}, nil)
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "untracked"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "host == 'yes'", DoNotTrack: true, ApplyOnForward: true,
		Ingress: []v3.Rule{{Action: v3.Allow, Protocol: tcpProto(), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(9000)}}}},
		Egress:  []v3.Rule{{Action: v3.Allow, Protocol: tcpProto(), Source: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(9000)}}}},
	}})
	n.sync()
	netnstest.Run(t, "ip", "netns", "exec", n.node, "conntrack", "-F")
	n.expect(t, "external → host:9000 untracked", "ext", "host", "TCP", 9000, true)
	ct := netnstest.Run(t, "ip", "netns", "exec", n.node, "conntrack", "-L")
	if strings.Contains(ct, "dport=9000") {
		t.Errorf("an untracked connection was tracked:\n%s", ct)
	}
}

// TestDefaultEndpointToHostAction: a pod's traffic to its own host, after
// its egress policy allowed it.
func TestDefaultEndpointToHostAction(t *testing.T) {
	for action, want := range map[string]bool{"Drop": false, "Accept": true, "Return": true} {
		t.Run(action, func(t *testing.T) {
			n := hostNode(t, "uplink", Config{DefaultEndpointToHostAction: action})
			n.sync()
			n.expect(t, "pod → host:8080", "x/a", "host", "TCP", 8080, want)
			n.expect(t, "pod → host:22 (failsafe is for host endpoints, not pods)", "x/a", "host", "TCP", 22, want)
		})
	}
}

// TestKernelAgreesWithOracleOnHostEndpoints generates random host-endpoint
// policy sets (normal, applyOnForward, pre-DNAT and untracked policies in
// tiers, with the pods' own policies beside them) and requires every
// probe between the peer, the host and the pods to agree with the oracle.
// CALICO_RANDOM_SEED reproduces a run.
func TestKernelAgreesWithOracleOnHostEndpoints(t *testing.T) {
	r := seededRand(t, 2)
	n := hostNode(t, pick(r, "uplink", "*"), Config{})
	differential(t, n, func() []model.Key { return randomHostPolicies(r, n) }, func() []probeResult { return n.probeHostPaths(t) })
}

func randomHostPolicies(r *rand.Rand, n *testNode) []model.Key {
	order := 100.0
	n.tiers(&v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "t1"}, Spec: v3.TierSpec{Order: &order, DefaultAction: pick(r, v3.Deny, v3.Pass)}})
	selectors := []string{"host == 'yes'", "host == 'yes'", "all()", "pod == 'a'", "has(pod)"}
	ports := []int{22, 53, 80, 81, 8080, 9000}
	var keys []model.Key
	for i := range 1 + r.IntN(4) {
		tier := pick(r, "default", "t1")
		o := float64(r.IntN(5))
		kind := r.IntN(4) // 0 normal, 1 applyOnForward, 2 pre-DNAT, 3 untracked
		rules := func(max int) []v3.Rule {
			var out []v3.Rule
			for range r.IntN(max + 1) {
				rule := v3.Rule{Action: pick(r, v3.Allow, v3.Allow, v3.Deny, v3.Pass, v3.Log)}
				if kind == 3 {
					// Untracked allows need a matching rule for the replies,
					// and an untracked deny must not catch replies (which go
					// to ephemeral ports): the oracle judges first packets.
					rule.Action = pick(r, v3.Deny, v3.Pass, v3.Log)
				}
				if r.IntN(3) > 0 || kind == 3 {
					p := v3.ProtocolFromString(pick(r, "TCP", "TCP", "UDP"))
					rule.Protocol = &p
					if r.IntN(2) == 0 || kind == 3 {
						rule.Destination.Ports = []v3.Port{v3.SinglePort(uint16(pick(r, ports...)))}
					}
				}
				peer := &rule.Source
				if r.IntN(2) == 0 {
					peer = &rule.Destination
				}
				switch r.IntN(4) {
				case 1:
					peer.Nets = []string{pick(r, "192.168.100.0/24", extAddr+"/32", hostAddr+"/32", "10.65.0.0/16", "10.65.0.1/32")}
				case 2:
					peer.Selector = pick(r, "pod == 'a'", "host == 'yes'", "has(pod)")
				case 3:
					peer.NotNets = []string{pick(r, "10.65.0.0/16", extAddr+"/32")}
				}
				out = append(out, rule)
			}
			return out
		}
		name := fmt.Sprintf("host-%d", i)
		if tier != "default" {
			name = tier + "." + name
		}
		p := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.GlobalNetworkPolicySpec{
			Tier: tier, Order: &o, Selector: pick(r, selectors...), Ingress: rules(3), Egress: rules(2),
		}}
		switch kind {
		case 1:
			p.Spec.ApplyOnForward = true
		case 2:
			p.Spec.ApplyOnForward, p.Spec.PreDNAT, p.Spec.Egress = true, true, nil
			p.Spec.Types = []v3.PolicyType{v3.PolicyTypeIngress}
		case 3:
			p.Spec.ApplyOnForward, p.Spec.DoNotTrack = true, true
		}
		n.gnp(p)
		keys = append(keys, model.Key{Kind: "GlobalNetworkPolicy", Name: name})
	}
	return keys
}
