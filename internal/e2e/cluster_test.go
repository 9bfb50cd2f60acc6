package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/noderuntime"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/node/bird"
	"github.com/calicong/calico/internal/pki"
	"github.com/calicong/calico/internal/poll"
	"github.com/calicong/calico/internal/typha/typhatest"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// cluster is hosts in namespaces, each a Kubernetes Node running
// calico-node.
type cluster struct {
	t        testing.TB
	mh       *multihost.Cluster
	hosts    []*multihost.Host
	nodes    map[string]*multihost.Process
	typhas   map[string]*multihost.Process
	runtimes map[string]*noderuntime.Runtime
	bin      string
	env      []string
}

type clusterOpts struct {
	hosts int
	// env is added to every calico-node's environment.
	env []string
	// dualStack gives hosts IPv6 addresses too, and pods both families.
	dualStack bool
	// runtimes runs a node runtime (the kubelet's part) on every host.
	runtimes bool
	// typha runs calico-typha (mutual TLS) on the first typha hosts, and
	// every calico-node reaches the datastore through them, in order.
	typha int
}

func newCluster(t testing.TB, o clusterOpts) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the lab and root")
	}
	netnstest.Require(t)
	netnstest.RequireBinaries(t, "bird")
	bin, err := labtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	mh, err := multihost.New(netnstest.Prefix, netip.MustParsePrefix("172.30.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if o.dualStack {
		mh.Subnet6 = netip.MustParsePrefix("fd00:30::/64")
	}
	c := &cluster{t: t, mh: mh, nodes: map[string]*multihost.Process{}, typhas: map[string]*multihost.Process{}, bin: bin, env: o.env}
	dumped = false
	current = c
	t.Cleanup(func() {
		if t.Failed() && !dumped {
			c.dumpLogs()
		}
		current = nil
		if err := mh.Close(); err != nil {
			t.Errorf("cleaning up the hosts: %v", err)
		}
	})
	ctx := context.Background()
	apiAddr := strings.TrimPrefix(testLab.REST.Host, "https://")
	for i := range o.hosts {
		name := fmt.Sprintf("e2e-%d", i)
		h, err := mh.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Relay(apiAddr); err != nil {
			t.Fatal(err)
		}
		if err := h.SetupCNI(multihost.CNIOptions{BinDir: bin, Kubeconfig: testLab.Config.KubeconfigPath(), AssignIPv6: o.dualStack}); err != nil {
			t.Fatal(err)
		}
		// The kubelet would register the node.
		kn := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
		if _, err := testLab.Client.Kube.CoreV1().Nodes().Create(ctx, kn, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = testLab.Client.Kube.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
			_ = testLab.Client.IPAM().ReleaseNodeAffinities(context.Background(), name)
		})
		c.hosts = append(c.hosts, h)
	}
	if o.typha > 0 {
		c.startTypha(o.typha)
	}
	for _, h := range c.hosts {
		c.startNode(h)
	}
	if o.runtimes {
		c.runtimes = map[string]*noderuntime.Runtime{}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		t.Cleanup(func() { cancel(); wg.Wait() })
		for _, h := range c.hosts {
			rt := noderuntime.New(noderuntime.Config{Host: h, Kube: testLab.Client.Kube})
			c.runtimes[h.Name] = rt
			wg.Go(func() {
				if err := rt.Run(ctx); err != nil && ctx.Err() == nil {
					t.Errorf("node runtime on %s: %v", h.Name, err)
				}
			})
		}
	}
	return c
}

// startNode runs calico-node on a host with the cluster's environment
// and extra, which comes last and so wins.
func (c *cluster) startNode(h *multihost.Host, extra ...string) {
	c.t.Helper()
	ip6 := "none"
	if h.IP6.IsValid() {
		ip6 = h.IP6.String()
	}
	env := append([]string{
		"NODENAME=" + h.Name, "KUBECONFIG=" + testLab.Config.KubeconfigPath(), "IP=" + h.IP.String(), "IP6=" + ip6,
		"NO_DEFAULT_POOLS=true", "CALICO_CONFD_CONFIG_DIR=" + filepath.Join(h.Dir, "confd"),
		"CALICO_RUN_DIR=" + filepath.Join(h.Dir, "run"), "CALICO_NODENAME_FILE=" + filepath.Join(h.Dir, "nodename"),
		"FELIX_LOGSEVERITYSCREEN=info", "FELIX_HEALTHENABLED=true", "FELIX_HEALTHHOST=127.0.0.1",
	}, append(slices.Clone(c.env), extra...)...)
	p, err := h.Start("calico-node", env, filepath.Join(c.bin, "calico-node"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[h.Name] = p
}

// startTypha runs calico-typha on the first n hosts, with certificates
// from a fresh CA, and points every calico-node at them.
func (c *cluster) startTypha(n int) {
	c.t.Helper()
	dir := c.t.TempDir()
	ca, _, err := pki.NewAuthority("e2e-typha-ca")
	if err != nil {
		c.t.Fatal(err)
	}
	srv := typhatest.Certs(c.t, dir, ca, "typha", pki.Request{CommonName: "calico-typha", Server: true})
	cli := typhatest.Certs(c.t, dir, ca, "felix", pki.Request{CommonName: "calico-node", Client: true})
	var addrs []string
	for _, h := range c.hosts[:n] {
		env := []string{"KUBECONFIG=" + testLab.Config.KubeconfigPath(), "TYPHA_CAFILE=" + srv.CAFile,
			"TYPHA_SERVERCERTFILE=" + srv.CertFile, "TYPHA_SERVERKEYFILE=" + srv.KeyFile, "TYPHA_CLIENTCN=calico-node",
			"TYPHA_CONNECTIONREBALANCINGMODE=none", "TYPHA_HEALTHHOST=127.0.0.1"}
		p, err := h.Start("calico-typha", env, filepath.Join(c.bin, "calico-typha"))
		if err != nil {
			c.t.Fatal(err)
		}
		c.typhas[h.Name] = p
		addrs = append(addrs, net.JoinHostPort(h.IP.Addr().String(), "5473"))
	}
	// Felix takes the first replica that answers, so the order in
	// FELIX_TYPHAADDR means something only once every replica listens.
	for _, h := range c.hosts[:n] {
		until(c.t, 30*time.Second, "calico-typha listening on "+h.Name, func() bool {
			b, _ := os.ReadFile(filepath.Join(h.Dir, "calico-typha.log"))
			return strings.Contains(string(b), "calico-typha serving")
		})
	}
	c.env = append(c.env, "FELIX_TYPHAADDR="+strings.Join(addrs, ","), "FELIX_TYPHACAFILE="+cli.CAFile,
		"FELIX_TYPHACERTFILE="+cli.CertFile, "FELIX_TYPHAKEYFILE="+cli.KeyFile, "FELIX_TYPHACN=calico-typha")
}

func (c *cluster) stopNode(h *multihost.Host) {
	c.t.Helper()
	if err := c.nodes[h.Name].Stop(20 * time.Second); err != nil {
		c.t.Errorf("calico-node on %s: %v", h.Name, err)
	}
}

func (c *cluster) dumpLogs() {
	for name, p := range c.nodes {
		if done, err := p.Exited(); done {
			c.t.Logf("==== calico-node on %s exited: %v", name, err)
		}
	}
	for _, h := range c.mh.Hosts() {
		for _, f := range []string{"calico-node.log", "cni.log", "calico-typha.log"} {
			b, err := os.ReadFile(filepath.Join(h.Dir, f))
			if err != nil {
				continue
			}
			if len(b) > 12000 {
				b = b[len(b)-12000:]
			}
			c.t.Logf("==== %s %s (tail)\n%s", h.Name, f, b)
		}
		if out, err := h.Exec("ip", "route"); err == nil {
			c.t.Logf("==== %s routes\n%s", h.Name, out)
		}
	}
	for _, h := range c.mh.Hosts() {
		for _, sock := range []string{birdSocket(h), filepath.Join(h.Dir, "bird.ctl")} {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if rep, err := bird.Command(ctx, sock, "show protocols all"); err == nil {
				c.t.Logf("==== %s: bird show protocols all\n%s", h.Name, rep.Text())
			}
			if rep, err := bird.Command(ctx, sock, "show route all"); err == nil {
				c.t.Logf("==== %s: bird show route all\n%s", h.Name, rep.Text())
			}
			cancel()
		}
	}
}

func birdSocket(h *multihost.Host) string { return filepath.Join(h.Dir, "run", "bird.ctl") }

// sessions are a host's BGP sessions and whether each is established.
func sessions(h *multihost.Host) map[string]bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ps, err := bird.Protocols(ctx, birdSocket(h))
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, p := range ps {
		if p.Proto == "BGP" {
			out[p.Name] = p.State == "up" && strings.HasPrefix(p.Info, "Established")
		}
	}
	return out
}

// current is the cluster of the running test: a wait that fails dumps
// its state at once, before the test's cleanups change it.
var (
	current *cluster
	dumped  bool
)

// until is poll.Until that, when the wait times out, dumps the cluster's
// logs at once, while its state is still the failing one.
func until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll.Within(d, cond) {
		if current != nil {
			current.dumpLogs()
			dumped = true
		}
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// hasRoute tells whether a host's kernel routes dst, and through what.
func hasRoute(h *multihost.Host, dst string) (bool, string) {
	fam := "-4"
	if strings.Contains(dst, ":") {
		fam = "-6"
	}
	// "exact" shows only a route to exactly dst (printed without /32 or
	// /128 for a host route).
	out, err := h.Exec("ip", fam, "route", "show", "exact", dst)
	return err == nil && strings.TrimSpace(out) != "", strings.TrimSpace(out)
}

func makePool(t testing.TB, name, cidr string, mut ...func(*v3.IPPoolSpec)) {
	t.Helper()
	p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.IPPoolSpec{CIDR: cidr, BlockSize: 26}}
	p.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPPool"))
	for _, f := range mut {
		f(&p.Spec)
	}
	v3.Default(p)
	if _, err := testLab.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testLab.Client.Delete(context.Background(), ipam.KindPool, "", name, nil) })
}

// pods puts one pod with a TCP server on each host.
func (c *cluster) pods(ns string) []*multihost.Pod {
	c.t.Helper()
	var out []*multihost.Pod
	for _, h := range c.hosts {
		p, err := h.AddPod(context.Background(), testLab.Client.Kube, ns, "web-"+h.Name, map[string]string{"app": "web"}, nil)
		if err != nil {
			c.t.Fatal(err)
		}
		srv, err := probe.Serve(p.NS, ns+"/"+p.Name, []probe.Port{{Protocol: "TCP", Port: 8080}})
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(srv.Close)
		out = append(out, p)
	}
	return out
}

// reach tells whether a TCP connection from one pod to another succeeds
// within a few tries (a first SYN can outlast one probe on a loaded
// machine).
func reach(from, to *multihost.Pod) bool { return reachAddr(from, to.IP()) }

func reachAddr(from *multihost.Pod, to netip.Addr) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := probe.Connect(from.NS, "TCP", to.String(), 8080, time.Second)
		if err == nil && r.Connected {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// blockOf is the block holding an address (/26, or /122 for IPv6).
func blockOf(a netip.Addr) string {
	if a.Is6() {
		return netip.PrefixFrom(a, 122).Masked().String()
	}
	return netip.PrefixFrom(a, 26).Masked().String()
}

func ptr[T any](v T) *T { return &v }

// apply creates a Calico resource for the test's duration.
func apply(t testing.TB, o v3.Object) {
	t.Helper()
	kind, ok := v3.KindOf(o)
	if !ok {
		t.Fatalf("unknown kind %T", o)
	}
	o.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
	v3.Default(o)
	if _, err := testLab.Client.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testLab.Client.Delete(context.Background(), kind, o.GetNamespace(), o.GetName(), nil) })
}

// nodeStatus runs calicoctl node status against a host's BIRD and checks
// its exit code.
func nodeStatus(t *testing.T, c *cluster, h *multihost.Host, wantCode int) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, "calicoctl"), "node", "status")
	cmd.Env = append(os.Environ(), "CALICO_RUN_DIR="+filepath.Join(h.Dir, "run"))
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != wantCode {
		t.Errorf("calicoctl node status on %s: exit %d, want %d\n%s", h.Name, code, wantCode, out)
	}
	return string(out)
}

// calicoNodeStatus asks a node for its status every second and waits for
// one that satisfies ok.
func calicoNodeStatus(t *testing.T, node string, ok func(v3.CalicoNodeStatusStatus) bool) v3.CalicoNodeStatusStatus {
	t.Helper()
	one := uint32(1)
	apply(t, &v3.CalicoNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "status-" + node}, Spec: v3.CalicoNodeStatusSpec{Node: node,
		Classes: []v3.NodeStatusClassType{v3.NodeStatusClassTypeAgent, v3.NodeStatusClassTypeBGP, v3.NodeStatusClassTypeRoutes}, UpdatePeriodSeconds: &one}})
	kind, _ := v3.KindFor("CalicoNodeStatus")
	var last v3.CalicoNodeStatusStatus
	until(t, 30*time.Second, "CalicoNodeStatus of "+node, func() bool {
		o, err := testLab.Client.Get(context.Background(), kind, "", "status-"+node)
		if err != nil {
			return false
		}
		last = o.(*v3.CalicoNodeStatus).Status
		return ok(last)
	})
	return last
}
