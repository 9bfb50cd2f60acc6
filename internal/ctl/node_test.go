package ctl_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// calicoctl get nodes shows the Calico view of Kubernetes Nodes: the
// addresses and AS number calico-node records in annotations.
func TestGetNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	ctx := context.Background()
	k := testLab.Client.Kube.CoreV1()
	for _, n := range []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "ctl-node-a", Labels: map[string]string{"rack": "r1"},
			Annotations: map[string]string{"projectcalico.org/IPv4Address": "10.0.0.1/24", "projectcalico.org/ASNumber": "65001"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "ctl-node-b", Annotations: map[string]string{"projectcalico.org/IPv4Address": "10.0.0.2/24",
			"projectcalico.org/IPv6Address": "fd00::2/64", "projectcalico.org/RouteReflectorClusterID": "244.0.0.1"}}},
	} {
		if _, err := k.Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k.Nodes().Delete(context.Background(), n.Name, metav1.DeleteOptions{}) })
	}
	wide := mustCalicoctl(t, "get", "nodes", "-o", "wide")
	for _, re := range []string{`ctl-node-a +65001 +10\.0\.0\.1/24`, `ctl-node-b +\(global\) +10\.0\.0\.2/24 +fd00::2/64`} {
		if !regexp.MustCompile(re).MatchString(wide) {
			t.Errorf("calicoctl get nodes -o wide lacks %q:\n%s", re, wide)
		}
	}
	y := mustCalicoctl(t, "get", "node", "ctl-node-b", "-o", "yaml")
	for _, want := range []string{"kind: Node", "routeReflectorClusterID: 244.0.0.1", "ipv6Address: fd00::2/64", "orchestrator: k8s"} {
		if !strings.Contains(y, want) {
			t.Errorf("calicoctl get node -o yaml lacks %q:\n%s", want, y)
		}
	}
	if _, errOut, code := calicoctl(t, "", "get", "node", "no-such-node"); code != 1 || !strings.Contains(errOut, "no-such-node") {
		t.Errorf("a missing node: exit %d, %q", code, errOut)
	}
}
