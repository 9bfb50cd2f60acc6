package dataplane

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/netnstest"
	"github.com/calicong/calico/internal/probe"
)

// hostNode is a test node with a host endpoint on its uplink, servers on
// the host itself and a pod.
func hostNode(t *testing.T, iface string) (*testNode, *testPod) {
	n := newTestNode(t, Config{
		FailsafeInbound:  []FailsafePort{{Protocol: "TCP", Port: 22}},
		FailsafeOutbound: []FailsafePort{{Protocol: "UDP", Port: 53}},
	})
	n.tiers()
	n.namespace("x", nil)
	pod := n.addPod("x", "a", "10.65.0.1", map[string]string{"pod": "a"})
	srv, err := probe.Serve(n.node, "host", []probe.Port{{Protocol: "TCP", Port: 22}, {Protocol: "TCP", Port: 8080}, {Protocol: "TCP", Port: 9000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ext, err := probe.Serve(n.ext, "external", []probe.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 53}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ext.Close)
	n.set(model.Key{Kind: "HostEndpoint", Name: "node-1-uplink"}, &v3.HostEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1-uplink", Labels: map[string]string{"host": "yes"}},
		Spec: v3.HostEndpointSpec{Node: nodeName, InterfaceName: iface, ExpectedIPs: []string{"192.168.100.1"},
			Profiles: []string{v3.DefaultAllowProfile}},
	})
	return n, pod
}

func connects(t *testing.T, fromNS, proto, addr string, port int) bool {
	t.Helper()
	r, err := probe.Connect(fromNS, proto, addr, port, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return r.Connected
}

func expectConnect(t *testing.T, what string, got, want bool) {
	t.Helper()
	if got != want {
		t.Errorf("%s: connected=%v, want %v", what, got, want)
	}
}

func TestHostEndpointPolicyAndFailsafe(t *testing.T) {
	for _, iface := range []string{"uplink", "*"} {
		t.Run("interface "+iface, func(t *testing.T) {
			n, pod := hostNode(t, iface)
			n.sync()
			expectConnect(t, "external → host:8080, default-allow profile", connects(t, n.ext, "TCP", "192.168.100.1", 8080), true)

			// Only 9000 in; nothing out.
			n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "host"}, Spec: v3.GlobalNetworkPolicySpec{
				Selector: "host == 'yes'",
				Ingress:  []v3.Rule{{Action: v3.Allow, Protocol: tcpProto(), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(9000)}}}},
				Egress:   []v3.Rule{},
				Types:    []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress},
			}})
			n.sync()
			expectConnect(t, "external → host:8080", connects(t, n.ext, "TCP", "192.168.100.1", 8080), false)
			expectConnect(t, "external → host:9000", connects(t, n.ext, "TCP", "192.168.100.1", 9000), true)
			expectConnect(t, "external → host:22 (failsafe)", connects(t, n.ext, "TCP", "192.168.100.1", 22), true)
			expectConnect(t, "host → external:80", connects(t, n.node, "TCP", "192.168.100.2", 80), false)
			expectConnect(t, "host → external udp:53 (failsafe)", connects(t, n.node, "UDP", "192.168.100.2", 53), true)
			// Forwarded traffic is untouched without applyOnForward; the
			// host may always reach its own pods.
			expectConnect(t, "external → pod (forwarded)", connects(t, n.ext, "TCP", pod.ip, 80), true)
			expectConnect(t, "host → pod", connects(t, n.node, "TCP", pod.ip, 80), true)
		})
	}
}

func TestHostEndpointForwardPreDNATAndUntracked(t *testing.T) {
	n, pod := hostNode(t, "uplink")
	// Forwarded traffic from the outside to pods is denied on the uplink.
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "no-forward-in"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "host == 'yes'", ApplyOnForward: true,
		Ingress: []v3.Rule{{Action: v3.Deny, Source: v3.EntityRule{Nets: []string{"192.168.100.0/24"}}, Destination: v3.EntityRule{Nets: []string{"10.65.0.0/16"}}}, {Action: v3.Allow}},
		Egress:  []v3.Rule{{Action: v3.Allow}},
	}})
	n.sync()
	expectConnect(t, "external → pod with an applyOnForward deny", connects(t, n.ext, "TCP", pod.ip, 80), false)
	expectConnect(t, "external → host:8080 (the rule is for pods)", connects(t, n.ext, "TCP", "192.168.100.1", 8080), true)

	// Pre-DNAT: deny port 9000 before anything else, even though the
	// normal policy allows everything.
	n.set(model.Key{Kind: "GlobalNetworkPolicy", Name: "no-forward-in"}, nil)
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "prednat"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "host == 'yes'", PreDNAT: true, ApplyOnForward: true,
		Ingress: []v3.Rule{{Action: v3.Deny, Protocol: tcpProto(), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(9000)}}}},
	}})
	n.sync()
	expectConnect(t, "external → host:9000 denied pre-DNAT", connects(t, n.ext, "TCP", "192.168.100.1", 9000), false)
	expectConnect(t, "external → host:8080 not matched pre-DNAT", connects(t, n.ext, "TCP", "192.168.100.1", 8080), true)
	expectConnect(t, "external → host:22 failsafe before pre-DNAT policy", connects(t, n.ext, "TCP", "192.168.100.1", 22), true)

	// Untracked: allowed both ways without connection tracking.
	n.set(model.Key{Kind: "GlobalNetworkPolicy", Name: "prednat"}, nil)
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "untracked"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "host == 'yes'", DoNotTrack: true, ApplyOnForward: true,
		Ingress: []v3.Rule{{Action: v3.Allow, Protocol: tcpProto(), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(9000)}}}},
		Egress:  []v3.Rule{{Action: v3.Allow, Protocol: tcpProto(), Source: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(9000)}}}},
	}})
	n.sync()
	netnstest.Run(t, "ip", "netns", "exec", n.node, "conntrack", "-F")
	expectConnect(t, "external → host:9000 untracked", connects(t, n.ext, "TCP", "192.168.100.1", 9000), true)
	ct := netnstest.Run(t, "ip", "netns", "exec", n.node, "conntrack", "-L")
	if strings.Contains(ct, "dport=9000") {
		t.Errorf("an untracked connection was tracked:\n%s", ct)
	}
}
