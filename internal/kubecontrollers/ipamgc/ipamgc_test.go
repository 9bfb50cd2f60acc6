package ipamgc

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/manifests"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var testLab *labtest.Lab

// Dual-stack Services, so the service controller's IPv6 addresses can be
// tested.
func TestMain(m *testing.M) {
	os.Exit(labtest.Main(m, &testLab, labtest.WithAPIServerArgs("--service-cluster-ip-range=10.96.0.0/16,fd00:96::/112")))
}

// cluster is the pods and nodes the test says exist.
type cluster struct {
	mu    sync.Mutex
	pods  []ipam.Pod
	nodes map[string]bool
}

func (c *cluster) Pods(context.Context) ([]ipam.Pod, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.pods), nil
}

func (c *cluster) Nodes(context.Context) (map[string]bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for k, v := range c.nodes {
		out[k] = v
	}
	return out, nil
}

// TestCollector, against the real API server: a gone pod's address is
// released only after the grace period; a pod that reappears in time
// keeps its address; a deleted node's addresses go at once and its
// blocks lose their affinity; a live pod is never touched.
func TestCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	ctx := context.Background()
	p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "gc-pool"}, Spec: v3.IPPoolSpec{CIDR: "10.95.0.0/24", BlockSize: 28}}
	p.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPPool"))
	v3.Default(p)
	if _, err := testLab.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	m := testLab.Client.IPAM()
	assign := func(node, pod string) netip.Addr {
		t.Helper()
		a, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: "gc." + pod, Node: node,
			Attrs: map[string]string{ipam.AttrNamespace: "ns", ipam.AttrPod: pod, ipam.AttrNode: node}})
		if err != nil {
			t.Fatal(err)
		}
		return a.IPv4[0].Addr()
	}
	live := assign("gc-a", "live")
	gone := assign("gc-a", "gone")
	back := assign("gc-a", "back")
	orphan := assign("gc-b", "orphan")
	cl := &cluster{pods: []ipam.Pod{{Namespace: "ns", Name: "live", Node: "gc-a", IPs: []netip.Addr{live}}},
		nodes: map[string]bool{"gc-a": true}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{IPAM: m, Cluster: cl, GracePeriod: 15 * time.Minute, Now: func() time.Time { return now }, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// gc-b is not a node: its address goes at once, and its block.
	if !slices.Equal(r.Released, []netip.Addr{orphan}) || !slices.Equal(r.NodesCleaned, []string{"gc-b"}) || r.Candidates != 2 {
		t.Fatalf("first pass: %+v", r)
	}
	// "back" is created (late annotations) before the grace period ends.
	cl.mu.Lock()
	cl.pods = append(cl.pods, ipam.Pod{Namespace: "ns", Name: "back", Node: "gc-a", IPs: []netip.Addr{back}})
	cl.mu.Unlock()
	now = now.Add(10 * time.Minute)
	if r, err = c.Sync(ctx); err != nil || len(r.Released) != 0 || r.Candidates != 1 {
		t.Fatalf("within the grace period: %+v %v", r, err)
	}
	now = now.Add(6 * time.Minute)
	if r, err = c.Sync(ctx); err != nil || !slices.Equal(r.Released, []netip.Addr{gone}) {
		t.Fatalf("after the grace period: %+v %v", r, err)
	}
	all, _ := m.Allocations(ctx)
	var left []netip.Addr
	for _, a := range all {
		if netip.MustParsePrefix("10.95.0.0/24").Contains(a.Addr) {
			left = append(left, a.Addr)
		}
	}
	slices.SortFunc(left, netip.Addr.Compare)
	want := []netip.Addr{live, back}
	slices.SortFunc(want, netip.Addr.Compare)
	if !slices.Equal(left, want) {
		t.Errorf("left allocated: %v, want %v", left, want)
	}
	// The pool's size and use, for the IPPoolNearlyFull alert.
	if got := testutil.ToFloat64(metrics.poolSize.WithLabelValues("gc-pool")); got != 256 {
		t.Errorf("ipam_ippool_size{ippool=gc-pool} = %v, want 256", got)
	}
	if got := testutil.ToFloat64(metrics.inUse.WithLabelValues("gc-pool")); got != 2 {
		t.Errorf("ipam_allocations_in_use{ippool=gc-pool} = %v, want 2 (live and back)", got)
	}
	nodes, _ := m.AffineNodes(ctx)
	if slices.Contains(nodes, "gc-b") {
		t.Errorf("deleted node gc-b still holds blocks: %v", nodes)
	}
	// Clean up.
	for _, h := range []string{"gc.live", "gc.back"} {
		_ = m.ReleaseByHandle(ctx, h)
	}
	_ = m.ReleaseNodeAffinities(ctx, "gc-a")
	_ = testLab.Client.Delete(ctx, ipam.KindPool, "", "gc-pool", nil)
}

// kubeControllersKubeconfig runs calico-kube-controllers as the manifests
// do: as its ServiceAccount, with exactly manifests.KubeControllersRBAC.
func kubeControllersKubeconfig(t *testing.T) string {
	t.Helper()
	y, err := manifests.YAML("", manifests.KubeControllersRBAC())
	if err != nil {
		t.Fatal(err)
	}
	testLab.Apply(t, y)
	return testLab.KubeconfigAs(t, "system:serviceaccount:"+manifests.Namespace+":"+manifests.KubeControllersName)
}
