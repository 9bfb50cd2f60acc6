package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/node/tunneladdr"
)

// Three hosts with a VXLAN pool and BGP off (CALICO_NETWORKING_BACKEND
// vxlan): each node gets a tunnel address from the pool, pods on different
// hosts reach each other through vxlan.calico, no BIRD runs; traffic from
// a natOutgoing pool to a host outside the cluster (which has no route
// back to pods) is masqueraded and answered, and from a pool without
// natOutgoing it is not; when the VXLAN pools go, so do the tunnel
// addresses and the devices.
func TestVXLAN(t *testing.T) {
	c := newCluster(t, clusterOpts{hosts: 3, env: []string{"CALICO_NETWORKING_BACKEND=vxlan"}})
	makePool(t, "e2e-vxlan", "10.73.0.0/16", func(s *v3.IPPoolSpec) { s.VXLANMode = v3.EncapAlways; s.NATOutgoing = true })
	makePool(t, "e2e-vxlan-nonat", "10.74.0.0/16", func(s *v3.IPPoolSpec) { s.VXLANMode = v3.EncapAlways })
	ctx := context.Background()
	for _, h := range c.hosts {
		until(t, 30*time.Second, h.Name+" gets a tunnel address", func() bool {
			n, err := testLab.Client.Kube.CoreV1().Nodes().Get(ctx, h.Name, metav1.GetOptions{})
			return err == nil && strings.HasPrefix(n.Annotations[v3.AnnotationNodeIPv4VXLANTunnelAddr], "10.7") &&
				n.Annotations[v3.AnnotationNodeVXLANTunnelMACAddr] == tunneladdr.MAC(h.Name)
		})
	}
	pods := c.pods("e2e-vxlan")
	for i, h := range c.hosts {
		for j, p := range pods {
			if i == j {
				continue
			}
			blk := blockOf(p.IP())
			until(t, 30*time.Second, fmt.Sprintf("%s routes %s's block %s through the overlay", h.Name, p.Host.Name, blk), func() bool {
				ok, via := hasRoute(h, blk)
				return ok && strings.Contains(via, "dev vxlan.calico") && strings.Contains(via, "onlink")
			})
		}
	}
	for _, from := range pods {
		for _, to := range pods {
			if from != to && !reach(from, to) {
				t.Errorf("%s (%s) cannot reach %s (%s)", from.Name, from.IP(), to.Name, to.IP())
			}
		}
	}
	for _, h := range c.hosts {
		if _, err := os.Stat(filepath.Join(h.Dir, "run", "bird.ctl")); err == nil {
			t.Errorf("%s runs BIRD with the vxlan backend", h.Name)
		}
	}

	// A host outside the cluster.
	ext, err := c.mh.AddHost("ext")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := probe.Serve(ext.NS, "ext", []probe.Port{{Protocol: "TCP", Port: 9000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	out := func(podNS string) bool {
		deadline := time.Now().Add(4 * time.Second)
		for time.Now().Before(deadline) {
			if r, err := probe.Connect(podNS, "TCP", ext.IP.Addr().String(), 9000, time.Second); err == nil && r.Connected {
				return true
			}
		}
		return false
	}
	if !out(pods[0].NS) {
		t.Errorf("a pod of the natOutgoing pool cannot reach the outside host")
	}
	noNAT, err := c.hosts[1].AddPod(ctx, testLab.Client.Kube, "e2e-vxlan", "nonat", nil, map[string]string{"cni.projectcalico.org/ipv4pools": `["e2e-vxlan-nonat"]`})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(noNAT.IP().String(), "10.74.") {
		t.Fatalf("pod from the pool without NAT got %s", noNAT.IP())
	}
	if out(noNAT.NS) {
		t.Errorf("a pod of the pool without natOutgoing reached the outside host (its traffic was masqueraded)")
	}
	// The same pod still reaches pods on other hosts.
	if !reach(noNAT, pods[0]) {
		t.Errorf("the pod without NAT cannot reach %s", pods[0].Name)
	}

	// No VXLAN pool left: the tunnel addresses are released, the Nodes
	// forget them and the devices go.
	for _, name := range []string{"e2e-vxlan", "e2e-vxlan-nonat"} {
		if err := testLab.Client.Delete(ctx, ipam.KindPool, "", name, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range c.hosts {
		until(t, 30*time.Second, h.Name+" releases its tunnel address", func() bool {
			n, err := testLab.Client.Kube.CoreV1().Nodes().Get(ctx, h.Name, metav1.GetOptions{})
			if err != nil || n.Annotations[v3.AnnotationNodeIPv4VXLANTunnelAddr] != "" {
				return false
			}
			ips, err := testLab.Client.IPAM().IPsByHandle(ctx, tunneladdr.Handle(h.Name))
			return errors.Is(err, ipam.ErrNotFound) || (err == nil && len(ips) == 0)
		})
		until(t, 30*time.Second, h.Name+" removes vxlan.calico", func() bool {
			out, err := h.Exec("ip", "link", "show")
			return err == nil && !strings.Contains(out, "vxlan.calico")
		})
	}
}

// Policy only (CALICO_NETWORKING_BACKEND none): no BIRD, no overlay;
// routing between hosts is someone else's (here: static routes the test
// adds). Pods reach each other over those routes, and Felix still
// enforces policy: a policy selecting the pods with no ingress rules
// cuts them off.
func TestPolicyOnly(t *testing.T) {
	c := newCluster(t, clusterOpts{hosts: 2, env: []string{"CALICO_NETWORKING_BACKEND=none"}})
	makePool(t, "e2e-policy-only", "10.75.0.0/16")
	pods := c.pods("e2e-policy-only")
	for i, h := range c.hosts {
		other := pods[1-i]
		if _, err := h.Exec("ip", "route", "add", blockOf(other.IP()), "via", other.Host.IP.Addr().String()); err != nil {
			t.Fatal(err)
		}
	}
	if !reach(pods[0], pods[1]) || !reach(pods[1], pods[0]) {
		t.Fatal("pods cannot reach each other over the routes someone else added")
	}
	for _, h := range c.hosts {
		if _, err := os.Stat(filepath.Join(h.Dir, "run", "bird.ctl")); err == nil {
			t.Errorf("%s runs BIRD in policy-only mode", h.Name)
		}
		if out, _ := h.Exec("ip", "link", "show"); strings.Contains(out, "vxlan.calico") {
			t.Errorf("%s has a VXLAN device in policy-only mode", h.Name)
		}
	}
	apply(t, &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "isolate-web"},
		Spec: v3.GlobalNetworkPolicySpec{Selector: "app == 'web'", Types: []v3.PolicyType{v3.PolicyTypeIngress}}})
	until(t, 20*time.Second, "the policy cuts the pods off", func() bool {
		r, err := probe.Connect(pods[0].NS, "TCP", pods[1].IP().String(), 8080, 500*time.Millisecond)
		return err == nil && !r.Connected
	})
}
