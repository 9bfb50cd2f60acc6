package ctl_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/labtest"
)

// TestIPAMCommands: show, check (finding a leak and a pod using an
// unallocated address), release (refusing an address in use), configure.
func TestIPAMCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	ctx := context.Background()
	pool := `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: ctl-ipam}
spec: {cidr: 10.90.0.0/24, blockSize: 28}
`
	if _, errOut, code := calicoctl(t, pool, "apply", "-f", "-"); code != 0 {
		t.Fatal(errOut)
	}
	t.Cleanup(func() { calicoctl(t, "", "delete", "ippool", "ctl-ipam") })
	k := testLab.Client.Kube.CoreV1()
	if _, err := k.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ctl-ipam"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m := testLab.Client.IPAM()
	assign := func(pod, handle string) string {
		t.Helper()
		a, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: handle, Node: "ctl-node",
			Attrs: map[string]string{ipam.AttrNamespace: "ctl-ipam", ipam.AttrPod: pod, ipam.AttrNode: "ctl-node"}})
		if err != nil {
			t.Fatal(err)
		}
		return a.IPv4[0].Addr().String()
	}
	liveIP := assign("live", "h-live")
	leakIP := assign("gone", "h-gone")
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: "ctl-ipam",
		Annotations: map[string]string{"cni.projectcalico.org/podIPs": liveIP + "/32"}},
		Spec: corev1.PodSpec{NodeName: "ctl-node", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if _, err := labtest.CreatePod(ctx, testLab.Client.Kube, p); err != nil {
		t.Fatal(err)
	}
	p2 := p.DeepCopy()
	p2.Name, p2.Annotations = "squatter", map[string]string{"cni.projectcalico.org/podIPs": "10.90.0.250/32"}
	if _, err := labtest.CreatePod(ctx, testLab.Client.Kube, p2); err != nil {
		t.Fatal(err)
	}

	out := mustCalicoctl(t, "ipam", "show", "--show-blocks")
	if !strings.Contains(out, "IP Pool ctl-ipam") || !strings.Contains(out, "host:ctl-node") {
		t.Errorf("ipam show --show-blocks:\n%s", out)
	}
	out = mustCalicoctl(t, "ipam", "show", "--ip", liveIP)
	if !strings.Contains(out, "in use") || !strings.Contains(out, "pod: live") || !strings.Contains(out, "h-live") {
		t.Errorf("ipam show --ip:\n%s", out)
	}

	out, _, code := calicoctl(t, "", "ipam", "check", "--show-problem-ips")
	if code != 1 || !strings.Contains(out, leakIP+": pod ctl-ipam/gone") || !strings.Contains(out, "(leaked)") ||
		!strings.Contains(out, "10.90.0.250: pod ctl-ipam/squatter uses 10.90.0.250") || strings.Contains(out, liveIP+":") {
		t.Errorf("ipam check (exit %d):\n%s", code, out)
	}
	out, _, _ = calicoctl(t, "", "ipam", "check", "-o", "json")
	var r ipam.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Problems) < 2 {
		t.Errorf("ipam check -o json: %v\n%s", err, out)
	}

	_, errOut, code := calicoctl(t, "", "ipam", "release", "--ip", liveIP)
	if code != 1 || !strings.Contains(errOut, "in use by ctl-ipam/live") {
		t.Errorf("releasing an address in use (exit %d): %s", code, errOut)
	}
	out = mustCalicoctl(t, "ipam", "release", "--ip", leakIP)
	if !strings.Contains(out, "Released "+leakIP) {
		t.Errorf("release: %s", out)
	}
	if out, _, _ := calicoctl(t, "", "ipam", "show", "--ip", leakIP); !strings.Contains(out, "not assigned") {
		t.Errorf("after release: %s", out)
	}

	mustCalicoctl(t, "ipam", "configure", "--strictaffinity=true", "--max-blocks-per-host", "3")
	out = mustCalicoctl(t, "ipam", "show", "--show-configuration")
	if !strings.Contains(out, "strictAffinity      true") || !strings.Contains(out, "maxBlocksPerHost    3") {
		t.Errorf("show configuration:\n%s", out)
	}
	mustCalicoctl(t, "ipam", "configure", "--strictaffinity=false", "--max-blocks-per-host", "0")
	if _, errOut, code := calicoctl(t, "", "ipam", "configure", "--strictaffinity=maybe"); code != 1 || !strings.Contains(errOut, "use true or false") {
		t.Errorf("bad --strictaffinity: %d %s", code, errOut)
	}

	// Clean up: the live pod's address, and the node's block.
	if err := m.ReleaseByHandle(ctx, "h-live"); err != nil {
		t.Fatal(err)
	}
	if err := m.ReleaseNodeAffinities(ctx, "ctl-node"); err != nil {
		t.Fatal(err)
	}
}
