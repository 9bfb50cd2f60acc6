package ipamgc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/poll"
	"github.com/calicong/calico/internal/proc"
)

// TestBinary runs calico-kube-controllers as a user would, against the
// real API server, with a short leakGracePeriod from its
// KubeControllersConfiguration: a live pod keeps its address, a gone
// pod's is released after the grace period, a deleted node's at once,
// with its CalicoNodeStatus; /readiness answers, /metrics counts the
// reclamations; a second replica waits for the leader; changes to the
// configuration are followed while it runs (status.runningConfig,
// automatic host endpoints); SIGTERM stops it cleanly.
func TestBinary(t *testing.T) {
	bin := labtest.Bin(t)
	ctx := context.Background()
	kube := testLab.Client.Kube
	m := testLab.Client.IPAM()

	kind, _ := v3.KindFor("KubeControllersConfiguration")
	cfg := kind.New().(*v3.KubeControllersConfiguration)
	cfg.Name = v3.DefaultConfigName
	grace := 3 * time.Second
	cfg.Spec.Controllers.Node = &v3.NodeControllerConfig{LeakGracePeriod: &metav1.Duration{Duration: grace}}
	v3.Default(cfg)
	if _, err := testLab.Client.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testLab.Client.Delete(ctx, kind, "", v3.DefaultConfigName, nil) })

	p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "gcbin-pool"}, Spec: v3.IPPoolSpec{CIDR: "10.96.0.0/24", BlockSize: 28}}
	p.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPPool"))
	v3.Default(p)
	if _, err := testLab.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testLab.Client.Delete(ctx, ipam.KindPool, "", "gcbin-pool", nil) })

	// Node gcbin-a exists; gcbin-b does not.
	if _, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gcbin-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Nodes().Delete(ctx, "gcbin-a", metav1.DeleteOptions{})
		_ = m.ReleaseNodeAffinities(ctx, "gcbin-a")
	})
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gcbin"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	assign := func(node, pod string) netip.Addr {
		t.Helper()
		a, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: "gcbin." + pod, Node: node,
			Attrs: map[string]string{ipam.AttrNamespace: "gcbin", ipam.AttrPod: pod, ipam.AttrNode: node}})
		if err != nil {
			t.Fatal(err)
		}
		return a.IPv4[0].Addr()
	}
	live, gone, orphan := assign("gcbin-a", "live"), assign("gcbin-a", "gone"), assign("gcbin-b", "orphan")
	zero := int64(0)
	if _, err := labtest.CreatePod(ctx, kube, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: "gcbin", Annotations: map[string]string{v3.AnnotationPodIPs: live.String() + "/32"}},
		Spec:       corev1.PodSpec{NodeName: "gcbin-a", Containers: []corev1.Container{{Name: "c", Image: "none"}}},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Pods("gcbin").Delete(ctx, "live", metav1.DeleteOptions{GracePeriodSeconds: &zero})
		_ = m.ReleaseByHandle(ctx, "gcbin.live")
	})

	// A status request for the deleted node, and one for the live one.
	nsKind, _ := v3.KindFor("CalicoNodeStatus")
	for _, n := range []string{"gcbin-a", "gcbin-b"} {
		st := nsKind.New().(*v3.CalicoNodeStatus)
		st.Name, st.Spec.Node = "status-"+n, n
		if _, err := testLab.Client.Create(ctx, st); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = testLab.Client.Delete(context.Background(), nsKind, "", "status-"+n, nil) })
	}

	ports, err := labtest.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	logPath := filepath.Join(t.TempDir(), "kube-controllers.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "calico-kube-controllers"), "--kubeconfig", kubeControllersKubeconfig(t), "--metrics-addr", addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	exited, err := proc.Start(cmd, syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("calico-kube-controllers log:\n%s", b)
		}
	})

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	allocated := func() map[netip.Addr]bool {
		all, err := m.Allocations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[netip.Addr]bool{}
		for _, a := range all {
			out[a.Addr] = true
		}
		return out
	}
	started := time.Now()
	poll.Until(t, 20*time.Second, "ready", func() bool { code, _ := get("/readiness"); return code == http.StatusOK })
	poll.Until(t, 10*time.Second, "deleted node's address released", func() bool { return !allocated()[orphan] })
	if a := allocated(); !a[gone] && time.Since(started) < grace {
		t.Errorf("the gone pod's address %s was released within the grace period", gone)
	}
	poll.Until(t, grace+15*time.Second, "gone pod's address released after the grace period", func() bool { return !allocated()[gone] })
	if !allocated()[live] {
		t.Errorf("the live pod's address %s was released", live)
	}
	if nodes, _ := m.AffineNodes(ctx); slices.Contains(nodes, "gcbin-b") {
		t.Errorf("deleted node gcbin-b still holds blocks: %v", nodes)
	}
	poll.Until(t, 10*time.Second, "the deleted node's CalicoNodeStatus removed", func() bool {
		_, err := testLab.Client.Get(ctx, nsKind, "", "status-gcbin-b")
		return err != nil && strings.Contains(err.Error(), "not found")
	})
	if _, err := testLab.Client.Get(ctx, nsKind, "", "status-gcbin-a"); err != nil {
		t.Errorf("the live node's CalicoNodeStatus: %v", err)
	}
	// A second replica waits: the first leads.
	second := exec.Command(filepath.Join(bin, "calico-kube-controllers"), "--kubeconfig", kubeControllersKubeconfig(t), "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]))
	var secondLog labtest.LogBuffer
	second.Stdout, second.Stderr = &secondLog, &secondLog
	secondExited, err := proc.Start(second, syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the second replica sees the leader", func() bool { return strings.Contains(secondLog.String(), "another replica leads") })
	_ = second.Process.Signal(syscall.SIGTERM)
	<-secondExited
	if strings.Contains(secondLog.String(), "msg=leading") {
		t.Errorf("the second replica led while the first ran:\n%s", secondLog.String())
	}
	// status.runningConfig shows what runs: the node controller with the
	// configured grace period, and no service controller (no section).
	poll.Until(t, 10*time.Second, "status.runningConfig written", func() bool {
		o, err := testLab.Client.Get(ctx, kind, "", v3.DefaultConfigName)
		if err != nil {
			return false
		}
		rc := o.(*v3.KubeControllersConfiguration).Status.RunningConfig
		return rc != nil && rc.Controllers.Node != nil && rc.Controllers.Node.LeakGracePeriod != nil &&
			rc.Controllers.Node.LeakGracePeriod.Duration == grace && rc.Controllers.LoadBalancer == nil
	})

	// The configuration is followed while running: turning on automatic
	// host endpoints gives gcbin-a one, with its labels; relabelling the
	// node relabels it; an invalid change keeps the running settings;
	// turning it off removes it, and never an endpoint a user made.
	hepKind, _ := v3.KindFor("HostEndpoint")
	mine := hepKind.New().(*v3.HostEndpoint)
	mine.Name, mine.Spec.Node, mine.Spec.InterfaceName = "gcbin-users-hep", "gcbin-a", "eth0"
	if _, err := testLab.Client.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = testLab.Client.Delete(ctx, hepKind, "", "gcbin-users-hep", nil)
		_ = testLab.Client.Delete(ctx, hepKind, "", "gcbin-a-auto-hep", nil)
	})
	setNode := func(change func(*v3.NodeControllerConfig)) {
		t.Helper()
		for try := 0; ; try++ {
			o, err := testLab.Client.Get(ctx, kind, "", v3.DefaultConfigName)
			if err != nil {
				t.Fatal(err)
			}
			cur := o.(*v3.KubeControllersConfiguration)
			change(cur.Spec.Controllers.Node)
			if _, err = testLab.Client.Update(ctx, cur); err == nil {
				return
			} else if try > 5 {
				t.Fatal(err)
			}
		}
	}
	autoHEP := func() *v3.HostEndpoint {
		o, err := testLab.Client.Get(ctx, hepKind, "", "gcbin-a-auto-hep")
		if err != nil {
			return nil
		}
		return o.(*v3.HostEndpoint)
	}
	setNode(func(n *v3.NodeControllerConfig) { n.HostEndpoint = &v3.AutoHostEndpointConfig{AutoCreate: "Enabled"} })
	poll.Until(t, 10*time.Second, "gcbin-a-auto-hep created", func() bool { return autoHEP() != nil })
	if h := autoHEP(); h.Spec.Node != "gcbin-a" || h.Spec.InterfaceName != "*" || h.Labels["projectcalico.org/created-by"] != "calico-kube-controllers" {
		t.Errorf("automatic host endpoint: node %q interface %q labels %v", h.Spec.Node, h.Spec.InterfaceName, h.Labels)
	}
	nodeA, err := kube.CoreV1().Nodes().Get(ctx, "gcbin-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeA.Labels = map[string]string{"role": "gcbin-edge"}
	if _, err := kube.CoreV1().Nodes().Update(ctx, nodeA, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the automatic host endpoint follows the node's labels", func() bool {
		h := autoHEP()
		return h != nil && h.Labels["role"] == "gcbin-edge"
	})
	// The schema refuses a bad autoCreate; a negative grace period gets
	// past it to the controller when calico-apiserver's webhook, which
	// refuses it too, is not there.
	testLab.WithoutWebhooks(t)
	setNode(func(n *v3.NodeControllerConfig) { n.LeakGracePeriod = &metav1.Duration{Duration: -time.Second} })
	poll.Until(t, 10*time.Second, "the invalid configuration reported", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "keep their settings")
	})
	if autoHEP() == nil {
		t.Error("an invalid configuration removed the automatic host endpoint")
	}
	setNode(func(n *v3.NodeControllerConfig) {
		n.LeakGracePeriod = &metav1.Duration{Duration: grace}
		n.HostEndpoint = &v3.AutoHostEndpointConfig{AutoCreate: "Disabled"}
	})
	poll.Until(t, 10*time.Second, "gcbin-a-auto-hep deleted", func() bool { return autoHEP() == nil })
	if _, err := testLab.Client.Get(ctx, hepKind, "", "gcbin-users-hep"); err != nil {
		t.Errorf("the user's host endpoint: %v", err)
	}

	_, metrics := get("/metrics")
	if n := metricValue(metrics, "ipam_allocations_gc_reclamations"); n < 2 {
		t.Errorf("ipam_allocations_gc_reclamations = %v, want at least 2\n%s", n, metrics)
	}
	if code, _ := get("/liveness"); code != http.StatusOK {
		t.Errorf("/liveness: %d", code)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("still running 10 s after SIGTERM")
	}
}

// metricValue sums a metric's samples in Prometheus text format.
func metricValue(text, name string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? ([0-9.eE+-]+)$`)
	sum := 0.0
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(strings.TrimSpace(m[2]), 64)
		sum += v
	}
	return sum
}
