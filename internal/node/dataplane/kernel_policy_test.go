package dataplane

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/model"
)

func wepFor(ns, pod, ip, ip6 string, labels map[string]string) *v3.WorkloadEndpoint {
	ips := ip + "/32"
	if ip6 != "" {
		ips += "," + ip6 + "/128"
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns, Labels: labels,
			Annotations: map[string]string{v3.AnnotationPodIPs: ips}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 80}, {Name: "alt", ContainerPort: 81},
		}}}},
	}
	wep, _ := conversion.WorkloadEndpoint(p)
	return wep
}

func (n *testNode) namespace(name string, labels map[string]string) {
	p := conversion.NamespaceProfile(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	n.set(model.Key{Kind: model.KindProfile, Name: p.Name}, p)
	sa := conversion.ServiceAccountProfile(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}})
	n.set(model.Key{Kind: model.KindProfile, Name: sa.Name}, sa)
}

func (n *testNode) tiers(extra ...*v3.Tier) {
	for _, bt := range v3.BuiltinTiers() {
		o := bt.Order
		n.set(model.Key{Kind: "Tier", Name: bt.Name}, &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: bt.Name}, Spec: v3.TierSpec{Order: &o, DefaultAction: bt.DefaultAction}})
	}
	for _, t := range extra {
		n.set(model.Key{Kind: "Tier", Name: t.Name}, t)
	}
}

func (n *testNode) k8sPolicy(np *networkingv1.NetworkPolicy) {
	pol, err := conversion.NetworkPolicy(np)
	if err != nil {
		n.t.Fatal(err)
	}
	n.set(model.Key{Kind: model.KindKubernetesNetworkPolicy, Namespace: np.Namespace, Name: np.Name}, pol)
}

func (n *testNode) gnp(p *v3.GlobalNetworkPolicy) {
	v3.Default(p)
	n.set(model.Key{Kind: "GlobalNetworkPolicy", Name: p.Name}, p)
}

// threeNamespaces sets up x, y, z with pods a and b each.
func threeNamespaces(t *testing.T) *testNode {
	n := newTestNode(t, Config{})
	n.tiers()
	ip := 1
	for _, ns := range []string{"x", "y", "z"} {
		n.namespace(ns, map[string]string{"ns": ns})
		for _, pod := range []string{"a", "b"} {
			n.addPod(ns, pod, "10.65.0."+itoa(ip), map[string]string{"pod": pod})
			ip++
		}
	}
	return n
}

func itoa(i int) string { return strconv.Itoa(i) }

var tcpUDP80 = []probe.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 80}}

func TestKernelAgreesWithOracle(t *testing.T) {
	n := threeNamespaces(t)
	n.sync()
	res := n.probeAll(tcpUDP80)
	if allowed := agree(t, res); allowed != len(res) {
		t.Fatalf("without policy everything should connect (%d of %d):\n%s", allowed, len(res), describe(res))
	}

	// Kubernetes policy: x admits only pods b (any namespace), on port 80.
	port80 := intstr.FromInt32(80)
	n.k8sPolicy(&networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "only-b", Namespace: "x"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pod": "b"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: &port80}},
			}},
		},
	})
	// A tier that denies z outright and passes the rest. The deny carries
	// an HTTP match, which this dataplane does not enforce: the rule
	// applies at L3/L4, in the kernel as in the oracle (as Calico's own
	// dataplane does without its L7 add-on), never silently dropped.
	order := 100.0
	n.tiers(&v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "security"}, Spec: v3.TierSpec{Order: &order, DefaultAction: v3.Pass}})
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "security.no-z"}, Spec: v3.GlobalNetworkPolicySpec{
		Tier: "security", Selector: "all()",
		Ingress: []v3.Rule{{Action: v3.Deny, Source: v3.EntityRule{NamespaceSelector: "ns == 'z'"},
			HTTP: &v3.HTTPMatch{Methods: []string{"POST"}, Paths: []v3.HTTPPath{{Prefix: "/admin"}}}}},
		Egress: []v3.Rule{{Action: v3.Pass}},
	}})
	n.sync()
	res = n.probeAll(tcpUDP80)
	allowed := agree(t, res)
	if allowed == 0 || allowed == len(res) {
		t.Errorf("policies should allow some and deny some (%d of %d connected)", allowed, len(res))
	}

	// Removing the tier's policy and the k8s policy restores everything,
	// incrementally.
	n.set(model.Key{Kind: "GlobalNetworkPolicy", Name: "security.no-z"}, nil)
	n.set(model.Key{Kind: model.KindKubernetesNetworkPolicy, Namespace: "x", Name: "only-b"}, nil)
	n.sync()
	res = n.probeAll(tcpUDP80)
	if allowed := agree(t, res); allowed != len(res) {
		t.Errorf("after removing the policies (%d of %d connected):\n%s", allowed, len(res), describe(res))
	}
}

func (n *testNode) gnpDenyAllX() {
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-x"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "projectcalico.org/namespace == 'x'", Types: []v3.PolicyType{v3.PolicyTypeIngress},
	}})
}

// TestSCTPAndICMP checks the other two protocols against the oracle:
// SCTP (INIT/INIT-ACK through raw sockets) and ICMP echo.
func TestSCTPAndICMP(t *testing.T) {
	n := newTestNode(t, Config{})
	n.tiers()
	n.namespace("x", nil)
	a := n.addPod("x", "a", "10.65.0.1", map[string]string{"pod": "a"})
	b := n.addPod("x", "b", "10.65.0.2", map[string]string{"pod": "b"})
	for _, p := range []*testPod{a, b} {
		srv, err := probe.Serve(p.netns, p.ns+"/"+p.name, []probe.Port{{Protocol: "SCTP", Port: 80}, {Protocol: "SCTP", Port: 81}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
	}
	n.sync()
	probes := []probe.Port{{Protocol: "SCTP", Port: 80}, {Protocol: "SCTP", Port: 81}, {Protocol: "ICMP"}}
	res := n.probeAll(probes)
	if allowed := agree(t, res); allowed != len(res) {
		t.Fatalf("without policy (%d of %d):\n%s", allowed, len(res), describe(res))
	}
	sctp := v3.ProtocolFromString("SCTP")
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "b-sctp-80"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "pod == 'b'",
		Ingress:  []v3.Rule{{Action: v3.Allow, Protocol: &sctp, Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(80)}}}},
	}})
	n.sync()
	res = n.probeAll(probes)
	allowed := agree(t, res)
	if allowed == len(res) || allowed == 0 {
		t.Errorf("with a policy admitting only SCTP 80 to b: %d of %d connected:\n%s", allowed, len(res), describe(res))
	}
}

// TestIPv6AgreesWithOracle: dual-stack pods, probed over IPv6 (TCP, UDP
// and ICMPv6) and IPv4, under policies with IPv6 nets, ipBlocks, selectors
// and ICMPv6 matches; the kernel must agree with the oracle on every
// probe, and IPv4-only rules must leave IPv6 alone.
func TestIPv6AgreesWithOracle(t *testing.T) {
	n := newTestNode(t, Config{})
	n.tiers()
	i := 1
	for _, ns := range []string{"x", "y"} {
		n.namespace(ns, map[string]string{"ns": ns})
		for _, pod := range []string{"a", "b"} {
			n.addDualPod(ns, pod, "10.65.0."+itoa(i), "fd00:65::"+itoa(i), map[string]string{"pod": pod})
			i++
		}
	}
	probes := []probe.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 81}, {Protocol: "ICMP"}}
	n.sync()
	for _, v6 := range []bool{true, false} {
		res := n.probeAllFamily(probes, v6)
		if allowed := agree(t, res); allowed != len(res) {
			t.Fatalf("v6=%v: without policy everything should connect (%d of %d):\n%s", v6, allowed, len(res), describe(res))
		}
	}

	// x admits TCP only from fd00:65::2/127 (x/b and y/a) and
	// from 10.65.0.0/24 (every pod over IPv4).
	port80 := intstr.FromInt32(80)
	n.k8sPolicy(&networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "v6-block", Namespace: "x"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{
					{IPBlock: &networkingv1.IPBlock{CIDR: "fd00:65::2/127"}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "10.65.0.0/24"}},
				},
				Ports: []networkingv1.NetworkPolicyPort{{Port: &port80}},
			}},
		},
	})
	// y admits ICMPv6 echo only from pods b; the external
	// peer's IPv6 net is denied; IPv4 from x is denied (which must not
	// touch IPv6 from x).
	icmp6 := v3.ProtocolFromString("ICMPv6")
	echo := 128
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "y-rules"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "projectcalico.org/namespace == 'y'",
		Ingress: []v3.Rule{
			{Action: v3.Deny, Source: v3.EntityRule{Nets: []string{"fd00:100::/64"}}},
			{Action: v3.Deny, Source: v3.EntityRule{Nets: []string{"10.65.0.1/32", "10.65.0.2/32"}}},
			{Action: v3.Allow, Protocol: &icmp6, ICMP: &v3.ICMPFields{Type: &echo}, Source: v3.EntityRule{Selector: "pod == 'b'"}},
			{Action: v3.Deny, Protocol: &icmp6},
			{Action: v3.Allow},
		},
		Types: []v3.PolicyType{v3.PolicyTypeIngress},
	}})
	n.sync()
	for _, v6 := range []bool{true, false} {
		res := n.probeAllFamily(probes, v6)
		allowed := agree(t, res)
		t.Logf("v6=%v: %d of %d probes connected", v6, allowed, len(res))
		if allowed == 0 || allowed == len(res) {
			t.Errorf("v6=%v: policies should allow some and deny some:\n%s", v6, describe(res))
		}
	}
	// Spot checks a user would make.
	check := func(from, to string, v6 bool, pr probe.Port, want bool) {
		t.Helper()
		src, dst := n.pods[from], n.pods[to]
		addr := dst.ip
		if v6 {
			addr = dst.ip6
		}
		r, err := probe.Connect(src.netns, pr.Protocol, addr, pr.Port, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r.Connected != want {
			t.Errorf("%s → %s (%s) %s/%d: connected=%v, want %v", from, to, addr, pr.Protocol, pr.Port, r.Connected, want)
		}
	}
	check("x/a", "y/a", true, probe.Port{Protocol: "TCP", Port: 80}, true)   // IPv4-only deny leaves IPv6 alone
	check("x/a", "y/a", false, probe.Port{Protocol: "TCP", Port: 80}, false) // the IPv4 deny
	check("y/b", "y/a", true, probe.Port{Protocol: "ICMP"}, true)
	check("x/a", "y/a", true, probe.Port{Protocol: "ICMP"}, false)
	check("x/b", "x/a", true, probe.Port{Protocol: "TCP", Port: 80}, true)  // fd00:65::2 is in the block
	check("y/b", "x/a", true, probe.Port{Protocol: "TCP", Port: 80}, false) // fd00:65::4 is not
}

// TestAntiSpoofing: a pod may send only from its own addresses (IPv4 and
// IPv6) unless its endpoint allows more. The host has a route back to the
// foreign address, so only the anti-spoofing rule can stop the packets.
func TestAntiSpoofing(t *testing.T) {
	n := newTestNode(t, Config{})
	n.tiers()
	n.namespace("x", nil)
	a := n.addDualPod("x", "a", "10.65.0.1", "fd00:65::1", map[string]string{"pod": "a"})
	b := n.addDualPod("x", "b", "10.65.0.2", "fd00:65::2", map[string]string{"pod": "b"})
	n.sync()
	run := netnstest.Run
	run(t, "ip", "-n", a.netns, "addr", "add", "10.65.0.99/32", "dev", "eth0")
	run(t, "ip", "-n", a.netns, "addr", "add", "fd00:65::99/128", "dev", "eth0", "nodad")
	run(t, "ip", "-n", n.node, "route", "add", "10.65.0.99/32", "dev", a.iface)
	run(t, "ip", "-n", n.node, "route", "add", "fd00:65::99/128", "dev", a.iface)
	dial := func(src, dst string) bool {
		t.Helper()
		ok := false
		err := probe.InNamespace(a.netns, func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
			c, err := d.Dial("tcp", net.JoinHostPort(dst, "80"))
			if err == nil {
				ok = true
				c.Close()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	cases := []struct{ src, dst string }{{"10.65.0.99", b.ip}, {"fd00:65::99", b.ip6}}
	for _, c := range cases {
		if dial(c.src, c.dst) {
			t.Errorf("a pod sent from a foreign address %s to %s", c.src, c.dst)
		}
	}
	if !dial(a.ip, b.ip) || !dial(a.ip6, b.ip6) {
		t.Fatal("a pod could not send from its own addresses")
	}
	// Allowed spoofing: the same packets pass.
	wep := wepFor("x", "a", a.ip, a.ip6, map[string]string{"pod": "a"})
	wep.Spec.AllowSpoofedSourcePrefixes = []string{"10.65.0.99/32", "fd00:65::99/128"}
	n.set(model.Key{Kind: model.KindWorkloadEndpoint, Namespace: "x", Name: wep.Name}, wep)
	n.sync()
	for _, c := range cases {
		if !dial(c.src, c.dst) {
			t.Errorf("allowSpoofedSourcePrefixes: %s to %s still dropped", c.src, c.dst)
		}
	}
}

// TestDomainEgress: an egress rule allowing "*.example.test" matches
// nothing in the kernel until an answer for a matching name is learned
// (the set stays empty: fail closed); the learned address then connects,
// no other does, and forgetting the answer closes it again. The oracle
// agrees at each step.
func TestDomainEgress(t *testing.T) {
	n := newTestNode(t, Config{})
	n.tiers()
	n.namespace("x", nil)
	for i, pod := range []string{"a", "b", "c"} {
		n.addPod("x", pod, "10.65.0."+itoa(i+1), map[string]string{"pod": pod})
	}
	tcp := v3.ProtocolFromString("TCP")
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "a-by-name"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "pod == 'a'", Types: []v3.PolicyType{v3.PolicyTypeEgress},
		Egress: []v3.Rule{{Action: v3.Allow, Protocol: &tcp, Destination: v3.EntityRule{Domains: []string{"*.example.test"}, Ports: []v3.Port{v3.SinglePort(80)}}}},
	}})
	tcp80 := []probe.Port{{Protocol: "TCP", Port: 80}}
	from := func(res []probeResult, src string) map[string]bool {
		out := map[string]bool{}
		for _, r := range res {
			if r.from == src {
				out[r.to] = r.connected
			}
		}
		return out
	}
	check := func(step string, want map[string]bool) {
		t.Helper()
		n.sync()
		res := n.probeAll(tcp80)
		agree(t, res)
		if got := from(res, "x/a"); got["x/b"] != want["x/b"] || got["x/c"] != want["x/c"] {
			t.Errorf("%s: a connected to %v, want %v", step, got, want)
		}
	}
	check("no answer yet", map[string]bool{"x/b": false, "x/c": false})
	n.graph.LearnDomain("api.example.test", netip.MustParseAddr("10.65.0.2"))
	n.graph.LearnDomain("api.other.test", netip.MustParseAddr("10.65.0.3"))
	check("api.example.test answered with b's address", map[string]bool{"x/b": true, "x/c": false})
	n.graph.ForgetDomain("api.example.test", netip.MustParseAddr("10.65.0.2"))
	check("the answer forgotten", map[string]bool{"x/b": false, "x/c": false})
}
