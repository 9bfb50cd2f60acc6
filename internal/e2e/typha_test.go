package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
)

// TestTyphaFailover: both nodes' Felix and confd stream through Typha
// (two replicas, mutual TLS). The replica they use is killed while
// policy is in force: every probe through the move gives the same answer,
// the clients reconnect to the other replica, and a policy change made
// afterwards is enforced through it.
func TestTyphaFailover(t *testing.T) {
	w := newWorldWith(t, clusterOpts{typha: 2})
	c := w.c
	// Ingress to x/a only from namespace y.
	stop := knp(t, "x", "from-y", networkingv1.NetworkPolicySpec{
		PodSelector: *sel("pod", "a"),
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("ns", "y")}}}},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
	})
	fromY := func(from, to wpod) bool { return to.String() != "x/a" || from.ns == "y" }
	w.expect(t, "policy through Typha", "TCP", 80, fromY)

	first, second := c.hosts[0], c.hosts[1]
	read := func(name, file string) string {
		for _, h := range c.hosts {
			if h.Name == name {
				b, _ := os.ReadFile(filepath.Join(h.Dir, file))
				return string(b)
			}
		}
		return ""
	}
	// Every client starts on the first replica (FELIX_TYPHAADDR's order).
	until(t, 30*time.Second, "4 clients (2 nodes × felix, bgp) on the first replica", func() bool {
		return strings.Count(read(first.Name, "calico-typha.log"), "client connected") >= 4
	})
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		c.typhas[first.Name].Kill()
	}()
	w.hold(t, "while the Typha replica in use dies", 5*time.Second, fromY)
	<-killed
	until(t, 30*time.Second, "4 clients on the second replica", func() bool {
		return strings.Count(read(second.Name, "calico-typha.log"), "client connected") >= 4
	})
	for _, h := range c.hosts {
		if l := read(h.Name, "calico-node.log"); !strings.Contains(l, "lost Typha; reconnecting") {
			t.Errorf("calico-node on %s did not log losing Typha", h.Name)
		}
	}
	// The second replica carries new changes.
	stop()
	w.expect(t, "policy removed through the second replica", "TCP", 80, everything)
}
