package cni

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
)

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
}

func TestDualStackAndAnnotations(t *testing.T) {
	skipShort(t)
	makePool(t, "cni-ds4", "10.71.0.0/24", 26)
	makePool(t, "cni-ds6", "fd00:71::/120", 122)
	makePool(t, "cni-special", "10.72.0.0/24", 28, func(s *v3.IPPoolSpec) { m := v3.AssignmentModeManual; s.AssignmentMode = &m })
	n := newNode(t, "cni-node-ds")
	conf := n.conf(nil, map[string]any{"assign_ipv4": "true", "assign_ipv6": "true", "ipv4_pools": []string{"cni-ds4"}})

	makePod(t, "cni-ds", "both", n.name, nil)
	sb := n.sandbox("cni-ds", "both")
	res, err := n.cni.AddNetworkList(ctx(), conf, sb.rt())
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	ips := addrsOf(t, res)
	if len(ips) != 2 || !ips[0].Is4() || !ips[1].Is6() || !netip.MustParsePrefix("fd00:71::/120").Contains(ips[1]) {
		t.Fatalf("dual stack gave %v", ips)
	}
	podNS := filepath.Base(sb.netns)
	srv, err := probe.Serve(podNS, "both", []probe.Port{{Protocol: "TCP", Port: 80}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, ip := range ips {
		var r probe.Result
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && !r.Connected {
			r, err = probe.Connect(n.ns, "TCP", ip.String(), 80, time.Second)
			if err != nil {
				t.Fatal(err)
			}
		}
		if !r.Connected {
			t.Errorf("node → pod %s: not connected", ip)
		}
	}

	// A pod asking for a pool by annotation, and one asking for an address.
	makePod(t, "cni-ds", "pooled", n.name, map[string]string{AnnotationIPv4Pools: `["cni-special"]`, AnnotationIPv6Pools: `["fd00:71::/120"]`})
	sb2 := n.sandbox("cni-ds", "pooled")
	res, err = n.cni.AddNetworkList(ctx(), conf, sb2.rt())
	if err != nil {
		t.Fatalf("ADD with ipv4pools: %v", err)
	}
	if got := addrsOf(t, res); !netip.MustParsePrefix("10.72.0.0/24").Contains(got[0]) {
		t.Errorf("ipv4pools annotation: got %v", got)
	}
	makePod(t, "cni-ds", "fixed", n.name, map[string]string{AnnotationIPAddrs: `["10.71.0.200"]`})
	sb3 := n.sandbox("cni-ds", "fixed")
	res, err = n.cni.AddNetworkList(ctx(), conf, sb3.rt())
	if err != nil {
		t.Fatalf("ADD with ipAddrs: %v", err)
	}
	if got := addrsOf(t, res); len(got) != 1 || got[0] != netip.MustParseAddr("10.71.0.200") {
		t.Errorf("ipAddrs annotation: got %v", got)
	}
	makePod(t, "cni-ds", "clash", n.name, map[string]string{AnnotationIPAddrs: `["10.71.0.200"]`})
	_, err = n.cni.AddNetworkList(ctx(), conf, n.sandbox("cni-ds", "clash").rt())
	if cniCode(err) != CodeInUse {
		t.Errorf("a second pod asking for the same address: %v (code %d)", err, cniCode(err))
	}
	for _, s := range []sandbox{sb, sb2, sb3} {
		if err := n.cni.DelNetworkList(ctx(), conf, s.rt()); err != nil {
			t.Errorf("DEL %s: %v", s.pod, err)
		}
	}
	if r, err := testLab.Client.IPAM().Check(context.Background(), ipam.Owners{}); err != nil || r.Allocations != 0 {
		t.Errorf("after DEL: %+v %v", r, err)
	}
}

// TestErrors: every bad input gets the spec's code and a message that says
// what to fix, and leaves nothing allocated.
func TestErrors(t *testing.T) {
	skipShort(t)
	n := newNode(t, "cni-node-err")
	makePod(t, "cni-err", "p", n.name, nil)
	raw := func(plugin map[string]any) *libcni.NetworkConfigList {
		b, _ := json.Marshal(map[string]any{"cniVersion": "1.1.0", "name": "k8s-pod-network", "plugins": []any{plugin}})
		l, err := libcni.ConfListFromBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	kube := map[string]any{"kubeconfig": testLab.Config.KubeconfigPath()}
	cases := []struct {
		what   string
		plugin map[string]any
		args   bool
		code   uint
		says   string
	}{
		{"no ipam type", map[string]any{"type": "calico", "nodename": n.name, "ipam": map[string]any{}, "kubernetes": kube}, true, types.ErrInvalidNetworkConfig, "ipam.type"},
		{"bad mtu", map[string]any{"type": "calico", "nodename": n.name, "mtu": 20, "ipam": map[string]any{"type": "calico-ipam"}, "kubernetes": kube}, true, types.ErrInvalidNetworkConfig, "mtu"},
		{"mtu of the wrong type", map[string]any{"type": "calico", "nodename": n.name, "mtu": "big", "ipam": map[string]any{"type": "calico-ipam"}, "kubernetes": kube}, true, types.ErrInvalidNetworkConfig, "mtu"},
		{"bad assign_ipv6", map[string]any{"type": "calico", "nodename": n.name, "ipam": map[string]any{"type": "calico-ipam", "assign_ipv6": "maybe"}, "kubernetes": kube}, true, types.ErrInvalidNetworkConfig, "maybe"},
		{"missing kubeconfig", map[string]any{"type": "calico", "nodename": n.name, "ipam": map[string]any{"type": "calico-ipam"}, "kubernetes": map[string]any{"kubeconfig": "/nonexistent/kubeconfig"}}, true, types.ErrInvalidNetworkConfig, "kubernetes.kubeconfig"},
		{"no Kubernetes CNI_ARGS", map[string]any{"type": "calico", "nodename": n.name, "ipam": map[string]any{"type": "calico-ipam"}, "kubernetes": kube}, false, types.ErrInvalidEnvironmentVariables, "K8S_POD_NAMESPACE"},
		{"no pools", map[string]any{"type": "calico", "nodename": n.name, "ipam_lock_file": n.lock, "ipam": map[string]any{"type": "calico-ipam", "ipv4_pools": []string{"nope"}}, "kubernetes": kube}, true, CodeNoPools, `"nope" does not exist`},
	}
	for _, c := range cases {
		sb := n.sandbox("cni-err", "p")
		rt := sb.rt()
		if !c.args {
			rt.Args = nil
		}
		_, err := n.cni.AddNetworkList(ctx(), raw(c.plugin), rt)
		if cniCode(err) != c.code || err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: got %v (code %d), want code %d saying %q", c.what, err, cniCode(err), c.code, c.says)
		}
	}

	// A network namespace that does not exist: code 8, before any address
	// is taken.
	makePool(t, "cni-err", "10.74.0.0/28", 28)
	conf0 := n.conf(nil, map[string]any{"ipv4_pools": []string{"cni-err"}})
	gone := n.sandbox("cni-err", "p")
	gone.netns = "/var/run/netns/cngt-no-such-namespace"
	if _, err := n.cni.AddNetworkList(ctx(), conf0, gone.rt()); cniCode(err) != types.ErrInvalidNetNS || !strings.Contains(err.Error(), gone.netns) {
		t.Errorf("missing netns: %v (code %d), want code %d naming the path", err, cniCode(err), types.ErrInvalidNetNS)
	}
	// A namespace that already has an eth0 that is not this container's
	// earlier ADD: refused before any address is taken.
	clash := n.sandbox("cni-err", "p")
	netnstest.Run(t, "ip", "-n", filepath.Base(clash.netns), "link", "add", "eth0", "type", "veth", "peer", "name", "other")
	if _, err := n.cni.AddNetworkList(ctx(), conf0, clash.rt()); err == nil || !strings.Contains(err.Error(), "already has an interface eth0") {
		t.Errorf("ADD into a namespace with an eth0: %v", err)
	}
	noTrace := func(podName, what string) {
		t.Helper()
		pod, err := testLab.Client.Kube.CoreV1().Pods("cni-err").Get(context.Background(), podName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{v3.AnnotationPodIP, v3.AnnotationPodIPs, v3.AnnotationContainerID} {
			if v, ok := pod.Annotations[k]; ok {
				t.Errorf("after %s the pod still has %s=%s", what, k, v)
			}
		}
		if r, _ := testLab.Client.IPAM().Check(context.Background(), ipam.Owners{}); r.Allocations != 0 {
			t.Errorf("after %s %d address(es) are still allocated", what, r.Allocations)
		}
	}
	noTrace("p", "the ADD into a namespace with an eth0")
	// Wiring that fails after the addresses were assigned (the address
	// the pod asks for is routed to another interface on the node): the
	// addresses are released and the pod's annotations, written
	// meanwhile, are removed.
	makePod(t, "cni-err", "routed", n.name, map[string]string{AnnotationIPAddrs: `["10.74.0.9"]`})
	netnstest.Run(t, "ip", "-n", n.ns, "route", "add", "10.74.0.9/32", "dev", "uplink")
	if _, err := n.cni.AddNetworkList(ctx(), conf0, n.sandbox("cni-err", "routed").rt()); err == nil || !strings.Contains(err.Error(), "already routed to uplink") {
		t.Errorf("ADD of an address routed elsewhere: %v", err)
	}
	netnstest.Run(t, "ip", "-n", n.ns, "route", "del", "10.74.0.9/32", "dev", "uplink")
	noTrace("routed", "the ADD whose wiring failed")

	// A pool with one address: the second pod finds it exhausted.
	makePool(t, "cni-tiny", "10.73.0.0/32", 32)
	conf := n.conf(nil, map[string]any{"ipv4_pools": []string{"cni-tiny"}})
	first := n.sandbox("cni-err", "p")
	if _, err := n.cni.AddNetworkList(ctx(), conf, first.rt()); err != nil {
		t.Fatal(err)
	}
	makePod(t, "cni-err", "q", n.name, nil)
	_, err := n.cni.AddNetworkList(ctx(), conf, n.sandbox("cni-err", "q").rt())
	if cniCode(err) != CodeExhausted || !strings.Contains(err.Error(), "cni-tiny") {
		t.Errorf("exhausted pool: %v (code %d)", err, cniCode(err))
	}
	if err := n.cni.DelNetworkList(ctx(), conf, first.rt()); err != nil {
		t.Fatal(err)
	}

	// The API server unreachable: try again later.
	dir := t.TempDir()
	kc, _ := os.ReadFile(testLab.Config.KubeconfigPath())
	host := strings.TrimPrefix(testLab.REST.Host, "https://")
	bad := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(bad, []byte(strings.ReplaceAll(string(kc), host, "127.0.0.1:1")), 0o600); err != nil {
		t.Fatal(err)
	}
	down := map[string]any{"type": "calico", "nodename": n.name, "ipam_lock_file": n.lock, "ipam": map[string]any{"type": "calico-ipam"}, "kubernetes": map[string]any{"kubeconfig": bad}}
	_, err = n.cni.AddNetworkList(ctx(), raw(down), n.sandbox("cni-err", "p").rt())
	if cniCode(err) != types.ErrTryAgainLater {
		t.Errorf("API server down: %v (code %d)", err, cniCode(err))
	}
	if err := n.cni.GetStatusNetworkList(ctx(), raw(down)); cniCode(err) != CodeNotAvailable {
		t.Errorf("STATUS with the API server down: %v (code %d)", err, cniCode(err))
	}
	// This test's pools only: other tests' blocks are checked by those
	// tests (a killed plugin's late write has been seen in cni-kill's).
	for _, cidr := range []string{"10.74.0.0/28", "10.73.0.0/32"} {
		if allocs, problems := checkPool(t, cidr); allocs != 0 || len(problems) != 0 {
			t.Errorf("after the failures, pool %s: %d allocations, problems %+v", cidr, allocs, problems)
		}
	}
}

func TestStatusAndGC(t *testing.T) {
	skipShort(t)
	n := newNode(t, "cni-node-gc")
	conf := n.conf(nil, map[string]any{"ipv4_pools": []string{"cni-gc"}})
	makePool(t, "cni-gc", "10.74.0.0/24", 26)
	if err := n.cni.GetStatusNetworkList(ctx(), conf); err != nil {
		t.Errorf("STATUS with a pool: %v", err)
	}
	var sbs []sandbox
	for i := range 3 {
		name := fmt.Sprintf("gc-%d", i)
		makePod(t, "cni-gc", name, n.name, nil)
		sb := n.sandbox("cni-gc", name)
		if _, err := n.cni.AddNetworkList(ctx(), conf, sb.rt()); err != nil {
			t.Fatal(err)
		}
		sbs = append(sbs, sb)
	}
	// The runtime knows only the first: GC releases the other two.
	err := n.cni.GCNetworkList(ctx(), conf, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: sbs[0].containerID, IfName: "eth0"}}})
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	m := testLab.Client.IPAM()
	for i, sb := range sbs {
		_, err := m.IPsByHandle(context.Background(), HandleID("k8s-pod-network", sb.containerID))
		if (err == nil) != (i == 0) {
			t.Errorf("after GC, container %d: %v", i, err)
		}
	}
	if err := n.cni.DelNetworkList(ctx(), conf, sbs[0].rt()); err != nil {
		t.Fatal(err)
	}
	// No enabled pool: STATUS says ADDs cannot be served.
	p, err := testLab.Client.Get(context.Background(), ipam.KindPool, "", "cni-gc")
	if err != nil {
		t.Fatal(err)
	}
	p.(*v3.IPPool).Spec.Disabled = true
	if _, err := testLab.Client.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	pools, _ := testLab.Client.List(context.Background(), ipam.KindPool, "")
	enabled := 0
	for _, p := range pools {
		if !p.(*v3.IPPool).Spec.Disabled {
			enabled++
		}
	}
	if enabled == 0 {
		// Only meaningful when no other test's pool is around.
		deadline := time.Now().Add(10 * time.Second)
		for err = n.cni.GetStatusNetworkList(ctx(), conf); cniCode(err) != CodeNotAvailable && time.Now().Before(deadline); {
			err = n.cni.GetStatusNetworkList(ctx(), conf)
		}
		if cniCode(err) != CodeNotAvailable {
			t.Errorf("STATUS without an enabled pool: %v", err)
		}
	}
	_ = metav1.Now
	_ = netnstest.Prefix
}
