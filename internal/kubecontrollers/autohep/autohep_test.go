package autohep

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

func TestDesired(t *testing.T) {
	n := &v3.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{"zone": "a"}},
		Spec: v3.NodeSpec{
			BGP:                 &v3.NodeBGPSpec{IPv4Address: "10.0.0.2/24", IPv6Address: "fd00::2/64"},
			IPv4VXLANTunnelAddr: "192.168.3.1",
			Addresses: []v3.NodeAddress{{Address: "10.0.0.2/24", Type: "CalicoNodeIP"}, {Address: "10.0.0.2", Type: "InternalIP"},
				{Address: "not-an-ip", Type: "ExternalIP"}},
		},
	}
	h := Desired(n)
	if h.Name != "node-1-auto-hep" || h.Spec.Node != "node-1" || h.Spec.InterfaceName != "*" {
		t.Errorf("name %q node %q interface %q", h.Name, h.Spec.Node, h.Spec.InterfaceName)
	}
	if h.Labels["zone"] != "a" || h.Labels[LabelCreatedBy] != CreatedBy || len(h.Labels) != 2 {
		t.Errorf("labels %v: want the node's and the created-by mark", h.Labels)
	}
	if n.Labels[LabelCreatedBy] != "" {
		t.Error("Desired changed the node's own labels")
	}
	// Without prefix lengths, sorted, once each; what is not an address is left out.
	if want := []string{"10.0.0.2", "192.168.3.1", "fd00::2"}; !slices.Equal(h.Spec.ExpectedIPs, want) {
		t.Errorf("expected IPs %v, want %v", h.Spec.ExpectedIPs, want)
	}
	if !slices.Equal(h.Spec.Profiles, []string{v3.DefaultAllowProfile}) {
		t.Errorf("profiles %v", h.Spec.Profiles)
	}
	if !same(h, Desired(n)) {
		t.Error("the same node gives a different endpoint")
	}
	n.Labels["zone"] = "b"
	if same(h, Desired(n)) {
		t.Error("a relabelled node gives the same endpoint")
	}
}

func TestDesiredUnlabelledNode(t *testing.T) {
	h := Desired(&v3.Node{ObjectMeta: metav1.ObjectMeta{Name: "bare"}})
	if h.Labels[LabelCreatedBy] != CreatedBy || len(h.Spec.ExpectedIPs) != 0 {
		t.Errorf("labels %v, expected IPs %v", h.Labels, h.Spec.ExpectedIPs)
	}
}
