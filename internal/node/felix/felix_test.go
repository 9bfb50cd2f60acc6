package felix_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/felixconfig"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/dataplane"
	"github.com/calicong/calico/internal/node/dataplane/nft"
	"github.com/calicong/calico/internal/node/dataplane/routes"
	"github.com/calicong/calico/internal/node/felix"
	"github.com/calicong/calico/internal/node/startup"
	"github.com/calicong/calico/internal/poll"
	"github.com/calicong/calico/internal/syncer"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// TestFromAPIServerToPackets runs Felix against a real API server for a
// node in a network namespace: pods created through the API get routes
// and policy, and a Kubernetes NetworkPolicy created through the API
// changes what real packets do.
func TestFromAPIServerToPackets(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	netnstest.Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := testLab.Client
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const nodeName = "felix-node"
	if _, err := c.Kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := startup.Run(ctx, startup.Config{NodeName: nodeName, IP: "192.168.100.1/24", IPv6: "none", IPv4PoolCIDR: "10.65.0.0/16", IPv4PoolVXLANMode: "Never"}, c, log)
	if err != nil {
		t.Fatal(err)
	}
	node, err := c.Kube.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil || node.Annotations[v3.AnnotationNodeIPv4Address] != "192.168.100.1/24" {
		t.Fatalf("node annotations %v (%v)", node.Annotations, err)
	}
	pools, _ := c.List(ctx, mustKind("IPPool"), "")
	if len(pools) != 1 || pools[0].(*v3.IPPool).Spec.CIDR != "10.65.0.0/16" {
		t.Errorf("default pool: %v", pools)
	}

	// The node and two pods, wired as the CNI plugin would.
	nodeNS := netnstest.New(t, "fnode")
	netnstest.Run(t, "ip", "netns", "exec", nodeNS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	// No dummy links on this kernel: the uplink is a veth to a peer namespace.
	extNS := netnstest.New(t, "fext")
	netnstest.Run(t, "ip", "-n", nodeNS, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", extNS)
	ns := "felix-x"
	if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "default service account", func() bool {
		_, err := c.Kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	pods := map[string]string{"a": "10.65.0.1", "b": "10.65.0.2"}
	podNS := map[string]string{}
	for name, ip := range pods {
		pn := netnstest.New(t, "fpod")
		podNS[name] = pn
		iface := conversion.VethName(ns, name)
		netnstest.Run(t, "ip", "-n", nodeNS, "link", "add", iface, "type", "veth", "peer", "name", "eth0", "netns", pn)
		netnstest.Run(t, "ip", "-n", pn, "addr", "add", ip+"/32", "dev", "eth0")
		netnstest.Run(t, "ip", "-n", pn, "link", "set", "eth0", "up")
		netnstest.Run(t, "ip", "-n", pn, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
		netnstest.Run(t, "ip", "-n", pn, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
		srv, err := probe.Serve(pn, ns+"/"+name, []probe.Port{{Protocol: "TCP", Port: 80}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		_, err = labtest.CreatePod(ctx, c.Kube, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"pod": name},
				Annotations: map[string]string{v3.AnnotationPodIP: ip + "/32"}},
			Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Proxy ARP needs a route towards the gateway address.
	netnstest.Run(t, "ip", "-n", nodeNS, "link", "set", "uplink", "up")
	netnstest.Run(t, "ip", "-n", nodeNS, "route", "add", "default", "dev", "uplink")

	h, err := netns.GetFromName(nodeNS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	rm, err := routes.New(routes.Config{}, nl, func(k, v string) error {
		return probe.InNamespace(nodeNS, func() error { return routes.WriteSysctl(k, v) })
	})
	if err != nil {
		t.Fatal(err)
	}
	fc, err := felixconfig.Resolve(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runner := nft.Runner{Prefix: netnstest.Exec(nodeNS), Elements: &nft.NetlinkElements{NetNS: nodeNS}}
	dp, err := dataplane.New(felix.DataplaneConfig(fc, log), runner, rm)
	if err != nil {
		t.Fatal(err)
	}
	agg := health.New(nil)
	reg := prometheus.NewRegistry()
	f, err := felix.New(felix.Config{
		NodeName: res.NodeName, Felix: fc, Dataplane: dp, Health: agg, Metrics: reg, Log: log,
		NewSource: func(cb model.SyncerCallbacks) (felix.Source, error) {
			srcs, err := c.Sources(datastore.FelixKinds, log)
			if err != nil {
				return nil, err
			}
			return syncer.New(srcs, cb, log), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	healthSrv := httptest.NewServer(agg.Handler())
	defer healthSrv.Close()
	metricsSrv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer metricsSrv.Close()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	status := func(path string) int {
		resp, err := http.Get(healthSrv.URL + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	poll.Until(t, 30*time.Second, "readiness", func() bool { return status("/readiness") == 200 })
	connects := func(from, to string) bool {
		r, err := probe.Connect(podNS[from], "TCP", pods[to], 80, time.Second)
		return err == nil && r.Connected
	}
	poll.Until(t, 10*time.Second, "a → b with no policy", func() bool { return connects("a", "b") })

	// The node's IPAM block is blackholed, another node's is not.
	for name, affinity := range map[string]string{"10-65-0-0-26": "host:" + nodeName, "10-65-0-64-26": "host:elsewhere"} {
		cidr := strings.Replace(strings.Replace(name, "-", ".", 3), "-", "/", 1)
		b := &v3.IPAMBlock{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.IPAMBlockSpec{
			CIDR: cidr, Affinity: &affinity, Allocations: make([]*int, 64), Unallocated: []int{}, Attributes: []v3.AllocationAttribute{}}}
		if _, err := c.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 10*time.Second, "the node's block to be blackholed", func() bool {
		out := netnstest.Run(t, "ip", "-n", nodeNS, "route", "show", "type", "blackhole")
		return strings.Contains(out, "10.65.0.0/26")
	})
	if out := netnstest.Run(t, "ip", "-n", nodeNS, "route", "show", "type", "blackhole"); strings.Contains(out, "10.65.0.64") {
		t.Errorf("another node's block is blackholed here:\n%s", out)
	}
	if !connects("a", "b") {
		t.Error("the block's blackhole broke pod-to-pod traffic")
	}

	// A default-deny policy through the API: traffic stops.
	if _, err := c.Kube.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deny"},
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"pod": "b"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "a → b to be denied", func() bool { return !connects("a", "b") })
	if !connects("b", "a") {
		t.Error("b → a was blocked too")
	}
	resp, err := http.Get(metricsSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"felix_active_local_endpoints 2", "felix_active_local_policies 1", "felix_resync_state 3", "felix_int_dataplane_apply_time_seconds_count"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// The API server goes away: what was programmed stays enforced the
	// whole time it is gone, and Felix keeps running.
	pid := apiServerPID(t)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	checks := 0
	poll.Until(t, 90*time.Second, "the API server to come back", func() bool {
		if connects("a", "b") {
			t.Fatal("a → b passed while the API server was down")
		}
		if !connects("b", "a") {
			t.Fatal("b → a was blocked while the API server was down")
		}
		checks++
		_, err := c.Kube.Discovery().ServerVersion()
		return err == nil && apiServerPID(t) != pid
	})
	t.Logf("enforcement checked %d times during the outage", checks)
	select {
	case err := <-done:
		t.Fatalf("Felix stopped during the outage: %v", err)
	default:
	}
	// Back: Felix resyncs and sees a change made after the outage.
	if err := c.Kube.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "deny", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 60*time.Second, "a → b to be allowed again", func() bool { return connects("a", "b") })
}

func apiServerPID(t *testing.T) int {
	t.Helper()
	st, err := lab.ReadStatus(testLab.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Components {
		if c.Name == "kube-apiserver" {
			return c.PID
		}
	}
	t.Fatal("the lab has no kube-apiserver")
	return 0
}

func mustKind(n string) v3.KindInfo { k, _ := v3.KindFor(n); return k }
