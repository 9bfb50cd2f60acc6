package cni

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
)

func requireStandardPlugins(t *testing.T, names ...string) {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", n)); err != nil {
			netnstest.Missing(t, "Debian's containernetworking-plugins are not installed (%s): %v", n, err)
		}
	}
}

// TestChainingWithStandardPlugins: calico followed by Debian's portmap and
// bandwidth plugins (CNI 1.0.0, the highest they speak): the host port
// reaches the pod, the bandwidth limit is on the pod's host interface, and
// DEL through the chain cleans up.
func TestChainingWithStandardPlugins(t *testing.T) {
	skipShort(t)
	requireStandardPlugins(t, "portmap", "bandwidth")
	makePool(t, "cni-chain", "10.78.0.0/24", 26)
	n := newNode(t, "cni-chain")
	makePod(t, "cni-chain", "web", n.name, nil)
	sb := n.sandbox("cni-chain", "web")
	calico := map[string]any{
		"type": "calico", "nodename": n.name, "ipam_lock_file": n.lock, "mtu": 1500,
		"ipam":       map[string]any{"type": "calico-ipam", "ipv4_pools": []string{"cni-chain"}},
		"kubernetes": map[string]any{"kubeconfig": testLab.Config.KubeconfigPath()},
	}
	list := map[string]any{"cniVersion": "1.0.0", "name": "k8s-pod-network", "plugins": []any{
		calico,
		map[string]any{"type": "portmap", "snat": true, "capabilities": map[string]bool{"portMappings": true}},
		map[string]any{"type": "bandwidth", "capabilities": map[string]bool{"bandwidth": true}},
	}}
	b, _ := json.Marshal(list)
	conf, err := libcni.ConfListFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	rt := sb.rt()
	rt.CapabilityArgs = map[string]any{
		"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}},
		"bandwidth":    map[string]any{"ingressRate": 1000000, "ingressBurst": 100000, "egressRate": 1000000, "egressBurst": 100000},
	}
	if _, err := n.cni.AddNetworkList(ctx(), conf, rt); err != nil {
		t.Fatalf("ADD through the chain: %v", err)
	}
	srv, err := probe.Serve(filepath.Base(sb.netns), "web", []probe.Port{{Protocol: "TCP", Port: 80}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var r probe.Result
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !r.Connected; {
		if r, err = probe.Connect(n.ns, "TCP", "192.168.200.1", 8080, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if !r.Connected || r.Reply != "web" {
		t.Errorf("node:8080 → pod through portmap: %+v", r)
	}
	host := netnstest.Run(t, "ip", "netns", "exec", n.ns, "tc", "qdisc", "show")
	if !strings.Contains(host, "tbf") {
		t.Errorf("no bandwidth limit (tbf qdisc) on the node:\n%s", host)
	}
	// (No CHECK through this chain: Debian's portmap 1.1.1 fails its own
	// CHECK of an IPv4-only pod, looking for an IPv6 chain it never made.)
	if err := n.cni.DelNetworkList(ctx(), conf, rt); err != nil {
		t.Fatalf("DEL through the chain: %v", err)
	}
	if out := netnstest.Run(t, "ip", "netns", "exec", n.ns, "iptables-save", "-t", "nat"); strings.Contains(out, "8080") {
		t.Errorf("portmap rules survive DEL:\n%s", out)
	}
}

// TestStandaloneIPAMWithMacvlan: calico-ipam as the IPAM of another
// plugin (Debian's macvlan on the node's uplink), the way it is used
// outside the calico plugin.
func TestStandaloneIPAMWithMacvlan(t *testing.T) {
	skipShort(t)
	requireStandardPlugins(t, "macvlan")
	makePool(t, "cni-ptp", "10.79.0.0/24", 26)
	n := newNode(t, "cni-ptp")
	makePod(t, "cni-ptp", "p", n.name, nil)
	sb := n.sandbox("cni-ptp", "p")
	list := map[string]any{"cniVersion": "1.0.0", "name": "macvlan-net", "plugins": []any{map[string]any{
		"type": "macvlan", "master": "uplink", "nodename": n.name, "ipam_lock_file": n.lock,
		"ipam":       map[string]any{"type": "calico-ipam", "ipv4_pools": []string{"cni-ptp"}, "nodename": n.name, "ipam_lock_file": n.lock, "kubernetes": map[string]any{"kubeconfig": testLab.Config.KubeconfigPath()}},
		"kubernetes": map[string]any{"kubeconfig": testLab.Config.KubeconfigPath()},
	}}}
	b, _ := json.Marshal(list)
	conf, err := libcni.ConfListFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.cni.AddNetworkList(ctx(), conf, sb.rt())
	if err != nil {
		t.Fatalf("macvlan + calico-ipam ADD: %v", err)
	}
	ips := addrsOf(t, res)
	if len(ips) != 1 || !strings.HasPrefix(ips[0].String(), "10.79.0.") {
		t.Fatalf("macvlan + calico-ipam gave %v", ips)
	}
	m := testLab.Client.IPAM()
	if got, err := m.IPsByHandle(context.Background(), HandleID("macvlan-net", sb.containerID)); err != nil || len(got) != 1 || got[0] != ips[0] {
		t.Errorf("handle: %v %v", got, err)
	}
	if err := n.cni.DelNetworkList(ctx(), conf, sb.rt()); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if _, err := m.IPsByHandle(context.Background(), HandleID("macvlan-net", sb.containerID)); err == nil {
		t.Error("the address survives DEL")
	}
	_ = ipam.ErrNotFound
}
