package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// node is a sandbox node: a network namespace the plugins run in (through
// wrapper scripts that enter it, as a runtime on that node would run
// them), with its own IPAM lock.
type node struct {
	t       testing.TB
	name    string
	ns      string
	cni     *libcni.CNIConfig
	lock    string
	confDir string
}

func newNode(t testing.TB, name string) *node {
	t.Helper()
	netnstest.Require(t)
	bin, err := labtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"calico", "calico-ipam"} {
		if _, err := os.Stat(filepath.Join(bin, p)); err != nil {
			t.Fatalf("plugin %s not built: %v", p, err)
		}
	}
	n := &node{t: t, name: name, ns: netnstest.New(t, "cninode")}
	// When the test ends the node goes, as a deleted Node's blocks do.
	t.Cleanup(func() {
		if err := testLab.Client.IPAM().ReleaseNodeAffinities(context.Background(), name); err != nil {
			t.Errorf("releasing %s's blocks: %v", name, err)
		}
	})
	dir := t.TempDir()
	n.lock = filepath.Join(dir, "ipam.lock")
	wrappers := filepath.Join(dir, "bin")
	if err := os.MkdirAll(wrappers, 0o755); err != nil {
		t.Fatal(err)
	}
	// Debian's standard plugins (for chaining) run on the node too.
	std, _ := filepath.Glob("/usr/lib/cni/*")
	for _, p := range append([]string{filepath.Join(bin, "calico"), filepath.Join(bin, "calico-ipam")}, std...) {
		script := fmt.Sprintf("#!/bin/sh\nexec nsenter --net=/var/run/netns/%s %s \"$@\"\n", n.ns, p)
		if err := os.WriteFile(filepath.Join(wrappers, filepath.Base(p)), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n.confDir = filepath.Join(dir, "cache")
	n.cni = libcni.NewCNIConfigWithCacheDir([]string{wrappers}, n.confDir, nil)
	// The node's own address (on lo: this kernel has no dummy links), and
	// an uplink with the default route, without which the kernel does not
	// answer ARP for the pods' gateway.
	run := func(args ...string) { netnstest.Run(t, append([]string{"ip", "-n", n.ns}, args...)...) }
	run("addr", "add", "192.168.200.1/32", "dev", "lo")
	run("addr", "add", "fd00:200::1/128", "dev", "lo")
	run("link", "add", "uplink", "type", "veth", "peer", "name", "uplink-peer")
	run("link", "set", "uplink", "up")
	run("link", "set", "uplink-peer", "up")
	run("route", "add", "default", "dev", "uplink")
	run("-6", "route", "add", "default", "dev", "uplink")
	// The node reaches the API server at the address its kubeconfig
	// names, as a real node would.
	netnstest.Forward(t, n.ns, strings.TrimPrefix(testLab.REST.Host, "https://"))
	return n
}

// conf is the network configuration as an install would write it.
func (n *node) conf(extra map[string]any, ipamExtra map[string]any) *libcni.NetworkConfigList {
	n.t.Helper()
	ipamConf := map[string]any{"type": "calico-ipam"}
	for k, v := range ipamExtra {
		ipamConf[k] = v
	}
	plugin := map[string]any{
		"type": "calico", "log_level": "info", "datastore_type": "kubernetes", "nodename": n.name,
		"mtu": 1450, "ipam_lock_file": n.lock, "ipam": ipamConf,
		"kubernetes": map[string]any{"kubeconfig": testLab.Config.KubeconfigPath()},
		"policy":     map[string]any{"type": "k8s"},
	}
	for k, v := range extra {
		plugin[k] = v
	}
	list := map[string]any{"cniVersion": "1.1.0", "name": "k8s-pod-network", "plugins": []any{plugin}}
	b, _ := json.Marshal(list)
	cl, err := libcni.ConfListFromBytes(b)
	if err != nil {
		n.t.Fatal(err)
	}
	return cl
}

// sandbox is a pod's network namespace and runtime arguments.
type sandbox struct {
	ns, pod, netns, containerID string
}

func (n *node) sandbox(ns, pod string) sandbox {
	n.t.Helper()
	return sandbox{ns: ns, pod: pod, netns: "/var/run/netns/" + netnstest.New(n.t, "cnipod"),
		containerID: fmt.Sprintf("%x", time.Now().UnixNano())}
}

func (s sandbox) rt() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: s.containerID, NetNS: s.netns, IfName: "eth0",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", s.ns}, {"K8S_POD_NAME", s.pod}, {"K8S_POD_INFRA_CONTAINER_ID", s.containerID}}}
}

func ctx() context.Context { return context.Background() }

// makePod creates a pod bound to a node (nothing runs it: the test plays
// the runtime).
func makePod(t testing.TB, ns, name, nodeName string, ann map[string]string) {
	t.Helper()
	k := testLab.Client.Kube.CoreV1()
	_, err := k.Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: ann},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "none"}}}}
	if _, err := labtest.CreatePod(context.Background(), testLab.Client.Kube, p); err != nil {
		t.Fatal(err)
	}
	// No kubelet confirms deletions here: delete at once.
	now := int64(0)
	t.Cleanup(func() {
		_ = k.Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &now})
	})
}

func makePool(t testing.TB, name, cidr string, blockSize int, mutate ...func(*v3.IPPoolSpec)) {
	t.Helper()
	p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.IPPoolSpec{CIDR: cidr, BlockSize: blockSize}}
	p.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPPool"))
	for _, f := range mutate {
		f(&p.Spec)
	}
	v3.Default(p)
	if _, err := testLab.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testLab.Client.Delete(context.Background(), ipam.KindPool, "", name, nil) })
}

func cniCode(err error) uint {
	var te *types.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func addrsOf(t testing.TB, res types.Result) []netip.Addr {
	t.Helper()
	r, err := types100.GetResult(res)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, ip := range r.IPs {
		a, _ := netip.AddrFromSlice(ip.Address.IP)
		out = append(out, a.Unmap())
	}
	return out
}

func TestAddCheckDel(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	makePool(t, "cni-a", "10.70.0.0/24", 26)
	n := newNode(t, "cni-node-a")
	makePod(t, "cni-a", "web", n.name, nil)
	sb := n.sandbox("cni-a", "web")
	logFile := filepath.Join(t.TempDir(), "log", "cni.log")
	conf := n.conf(map[string]any{"log_file_path": logFile}, nil)
	res, err := n.cni.AddNetworkList(ctx(), conf, sb.rt())
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	r, _ := types100.GetResult(res)
	ips := addrsOf(t, res)
	if len(ips) != 1 || !netip.MustParsePrefix("10.70.0.0/24").Contains(ips[0]) {
		t.Fatalf("ADD gave %v", ips)
	}
	host := conversion.VethName("cni-a", "web")
	if len(r.Interfaces) != 2 || r.Interfaces[0].Name != host || r.Interfaces[0].Mac != HostVethMAC || r.Interfaces[1].Sandbox != sb.netns {
		t.Errorf("interfaces: %+v %+v", r.Interfaces[0], r.Interfaces[1])
	}
	// The pod's side: its address, routes via 169.254.1.1, MTU.
	podNS := filepath.Base(sb.netns)
	out := netnstest.Run(t, "ip", "-n", podNS, "-4", "addr", "show", "eth0")
	if !strings.Contains(out, ips[0].String()+"/32") || !strings.Contains(out, "mtu 1450") {
		t.Errorf("pod eth0:\n%s", out)
	}
	if out := netnstest.Run(t, "ip", "-n", podNS, "route"); !strings.Contains(out, "default via 169.254.1.1 dev eth0") {
		t.Errorf("pod routes:\n%s", out)
	}
	if out := netnstest.Run(t, "ip", "-n", n.ns, "route", "show", ips[0].String()); !strings.Contains(out, "dev "+host) {
		t.Errorf("host route to %s: %q", ips[0], out)
	}
	// Traffic: the node reaches a server in the pod, and the pod reaches
	// the node through its gateway.
	srv, err := probe.Serve(podNS, "web", []probe.Port{{Protocol: "TCP", Port: 80}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if res, err := probe.Connect(n.ns, "TCP", ips[0].String(), 80, 2*time.Second); err != nil || !res.Connected || res.Reply != "web" {
		t.Errorf("node → pod: %+v %v", res, err)
	}
	// Annotations, as the Kubernetes datastore reads them.
	pod, err := testLab.Client.Kube.CoreV1().Pods("cni-a").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Annotations[v3.AnnotationPodIP] != ips[0].String()+"/32" || pod.Annotations[v3.AnnotationContainerID] != sb.containerID {
		t.Errorf("annotations: %v", pod.Annotations)
	}
	wep, ok := conversion.WorkloadEndpoint(pod)
	if !ok || len(wep.Spec.IPNetworks) != 1 || wep.Spec.InterfaceName != host {
		t.Errorf("workload endpoint: %+v", wep)
	}

	// CHECK passes, and notices a missing host route.
	if err := n.cni.CheckNetworkList(ctx(), conf, sb.rt()); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	netnstest.Run(t, "ip", "-n", n.ns, "route", "del", ips[0].String())
	if err := n.cni.CheckNetworkList(ctx(), conf, sb.rt()); err == nil || !strings.Contains(err.Error(), "no host route") {
		t.Errorf("CHECK with the host route gone: %v", err)
	}

	// DEL releases, unwires and clears; a second DEL succeeds.
	if err := n.cni.DelNetworkList(ctx(), conf, sb.rt()); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	m := testLab.Client.IPAM()
	if _, err := m.IPsByHandle(context.Background(), HandleID("k8s-pod-network", sb.containerID)); !errors.Is(err, ipam.ErrNotFound) {
		t.Errorf("handle after DEL: %v", err)
	}
	if out := netnstest.Run(t, "ip", "-n", n.ns, "link"); strings.Contains(out, host) {
		t.Errorf("host veth survives DEL:\n%s", out)
	}
	pod, _ = testLab.Client.Kube.CoreV1().Pods("cni-a").Get(context.Background(), "web", metav1.GetOptions{})
	if _, ok := pod.Annotations[v3.AnnotationPodIP]; ok {
		t.Errorf("annotations after DEL: %v", pod.Annotations)
	}
	if err := n.cni.DelNetworkList(ctx(), conf, sb.rt()); err != nil {
		t.Errorf("second DEL: %v", err)
	}
	if b, err := os.ReadFile(logFile); err != nil || !strings.Contains(string(b), "wired pod") || !strings.Contains(string(b), "container="+sb.containerID) {
		t.Errorf("log_file_path %s: %v\n%s", logFile, err, b)
	}
}
