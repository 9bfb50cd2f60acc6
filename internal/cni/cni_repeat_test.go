package cni

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
)

// connects polls until the node reaches the pod's server at ip, or a
// deadline passes.
func connects(t *testing.T, nodeNS string, ip netip.Addr, want string) bool {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		r, err := probe.Connect(nodeNS, "TCP", ip.String(), 80, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r.Connected && r.Reply == want {
			return true
		}
	}
	return false
}

// TestRepeatedAdd: a second ADD for the same container, network
// namespace and interface (CNI: an ADD for an existing attachment) returns
// the first one's result and changes nothing: the pod keeps its address,
// routes and traffic, IPAM keeps the allocation, and the pod is not
// written. It used to fail on the existing eth0 and release the live pod's
// addresses by handle.
func TestRepeatedAdd(t *testing.T) {
	skipShort(t)
	makePool(t, "cni-rep", "10.81.0.0/24", 26)
	makePool(t, "cni-rep6", "fd00:81::/120", 122)
	n := newNode(t, "cni-node-rep")
	conf := n.conf(nil, map[string]any{"assign_ipv4": "true", "assign_ipv6": "true", "ipv4_pools": []string{"cni-rep"}, "ipv6_pools": []string{"cni-rep6"}})
	makePod(t, "cni-rep", "web", n.name, nil)
	sb := n.sandbox("cni-rep", "web")
	first, err := n.cni.AddNetworkList(ctx(), conf, sb.rt())
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	ips := addrsOf(t, first)
	if len(ips) != 2 {
		t.Fatalf("ADD gave %v", ips)
	}
	podNS := filepath.Base(sb.netns)
	srv, err := probe.Serve(podNS, "web", []probe.Port{{Protocol: "TCP", Port: 80}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, ip := range ips {
		if !connects(t, n.ns, ip, "web") {
			t.Fatalf("node → pod %s before the second ADD: not connected", ip)
		}
	}
	pod, err := testLab.Client.Kube.CoreV1().Pods("cni-rep").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	second, err := n.cni.AddNetworkList(ctx(), conf, sb.rt())
	if err != nil {
		t.Fatalf("second ADD: %v", err)
	}
	r1, _ := types100.GetResult(first)
	r2, _ := types100.GetResult(second)
	if got := addrsOf(t, second); !slices.Equal(got, ips) {
		t.Errorf("second ADD gave %v, the first %v", got, ips)
	}
	if fmt.Sprint(r1.Interfaces[0], r1.Interfaces[1], r1.Routes) != fmt.Sprint(r2.Interfaces[0], r2.Interfaces[1], r2.Routes) {
		t.Errorf("second ADD's interfaces and routes differ:\n%v %v %v\n%v %v %v", r1.Interfaces[0], r1.Interfaces[1], r1.Routes,
			r2.Interfaces[0], r2.Interfaces[1], r2.Routes)
	}
	// Nothing changed: the pod's addresses, the host's routes, traffic,
	// the allocation and the pod object.
	out := netnstest.Run(t, "ip", "-n", podNS, "addr", "show", "eth0")
	for _, ip := range ips {
		if !strings.Contains(out, ip.String()+"/") {
			t.Errorf("pod eth0 lost %s:\n%s", ip, out)
		}
		family := "-4"
		if ip.Is6() {
			family = "-6"
		}
		if out := netnstest.Run(t, "ip", "-n", n.ns, family, "route", "show", ip.String()); !strings.Contains(out, "dev "+r1.Interfaces[0].Name) {
			t.Errorf("host route to %s: %q", ip, out)
		}
		if !connects(t, n.ns, ip, "web") {
			t.Errorf("node → pod %s after the second ADD: not connected", ip)
		}
	}
	held, err := testLab.Client.IPAM().IPsByHandle(context.Background(), HandleID("k8s-pod-network", sb.containerID))
	if err != nil || !slices.Equal(held, ips) {
		t.Errorf("IPAM holds %v (%v) for the container after the second ADD, want %v", held, err, ips)
	}
	after, err := testLab.Client.Kube.CoreV1().Pods("cni-rep").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != pod.ResourceVersion {
		t.Errorf("the second ADD wrote the pod: annotations %v", after.Annotations)
	}
	if err := n.cni.CheckNetworkList(ctx(), conf, sb.rt()); err != nil {
		t.Errorf("CHECK after the second ADD: %v", err)
	}

	// A retried ADD that finds the allocation but no interface (the first
	// crashed in between) and then fails keeps the addresses: they were
	// not allocated by it.
	netnstest.Run(t, "ip", "-n", podNS, "link", "del", "eth0")
	netnstest.Run(t, "ip", "-n", n.ns, "route", "add", ips[0].String()+"/32", "dev", "uplink")
	if _, err := n.cni.AddNetworkList(ctx(), conf, sb.rt()); err == nil || !strings.Contains(err.Error(), "already routed to uplink") {
		t.Errorf("retried ADD with the address routed elsewhere: %v", err)
	}
	held, err = testLab.Client.IPAM().IPsByHandle(context.Background(), HandleID("k8s-pod-network", sb.containerID))
	if err != nil || !slices.Equal(held, ips) {
		t.Errorf("a failed retry released addresses it had not allocated: IPAM holds %v (%v), want %v", held, err, ips)
	}
	netnstest.Run(t, "ip", "-n", n.ns, "route", "del", ips[0].String()+"/32", "dev", "uplink")
	// The retry then completes with the same addresses.
	third, err := n.cni.AddNetworkList(ctx(), conf, sb.rt())
	if err != nil {
		t.Fatalf("retried ADD: %v", err)
	}
	if got := addrsOf(t, third); !slices.Equal(got, ips) {
		t.Errorf("retried ADD gave %v, want %v", got, ips)
	}
	if err := n.cni.DelNetworkList(ctx(), conf, sb.rt()); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if _, err := testLab.Client.IPAM().IPsByHandle(context.Background(), HandleID("k8s-pod-network", sb.containerID)); !errors.Is(err, ipam.ErrNotFound) {
		t.Errorf("handle after DEL: %v", err)
	}
}
