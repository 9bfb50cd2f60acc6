package conversion

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"

	v3 "github.com/calicong/calico/api/v3"
)

// AnnotationKubeLabels carries a Node's Kubernetes labels as JSON.
const AnnotationKubeLabels = "projectcalico.org/kube-labels"

// The Node annotations of its WireGuard public keys (upstream's names).
const (
	annotationWireguardPublicKey   = "projectcalico.org/WireguardPublicKey"
	annotationWireguardPublicKeyV6 = "projectcalico.org/WireguardPublicKeyV6"
)

// Node is the Calico Node of a Kubernetes Node: its labels, its Kubernetes
// addresses, and the BGP and tunnel settings calico-node records in
// projectcalico.org/* annotations. A node without an address annotation
// has no BGP section (calico-node has not started there, or runs without
// BGP).
func Node(n *corev1.Node) *v3.Node {
	out := &v3.Node{}
	out.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("Node"))
	out.Name, out.ResourceVersion, out.UID, out.CreationTimestamp = n.Name, n.ResourceVersion, n.UID, n.CreationTimestamp
	out.Labels = n.Labels
	// The Kubernetes labels, kept as upstream keeps them (its node
	// conversion's mergeCalicoAndK8sLabels), so upstream's clients read
	// the same Node.
	kubeLabels, _ := json.Marshal(n.Labels)
	out.Annotations = map[string]string{AnnotationKubeLabels: string(kubeLabels)}
	ann := n.Annotations
	bgp := &v3.NodeBGPSpec{
		IPv4Address:             ann[v3.AnnotationNodeIPv4Address],
		IPv6Address:             ann[v3.AnnotationNodeIPv6Address],
		IPv4IPIPTunnelAddr:      ann[v3.AnnotationNodeIPv4IPIPTunnelAddr],
		RouteReflectorClusterID: ann[v3.AnnotationNodeRouteReflectorID],
	}
	if s := ann[v3.AnnotationNodeASNumber]; s != "" {
		if as, err := v3.ParseASNumber(s); err == nil {
			bgp.ASNumber = &as
		}
	}
	if bgp.IPv4Address != "" || bgp.IPv6Address != "" {
		out.Spec.BGP = bgp
	}
	out.Spec.IPv4VXLANTunnelAddr = ann[v3.AnnotationNodeIPv4VXLANTunnelAddr]
	out.Spec.VXLANTunnelMACAddr = ann[v3.AnnotationNodeVXLANTunnelMACAddr]
	out.Spec.IPv6VXLANTunnelAddr = ann[v3.AnnotationNodeIPv6VXLANTunnelAddr]
	out.Spec.VXLANTunnelMACAddrV6 = ann[v3.AnnotationNodeVXLANTunnelMACAddrV6]
	for _, k := range []string{v3.AnnotationNodeIPv4Address, v3.AnnotationNodeIPv6Address} {
		if a := ann[k]; a != "" {
			out.Spec.Addresses = append(out.Spec.Addresses, v3.NodeAddress{Address: a, Type: v3.NodeAddressCalicoNodeIP})
		}
	}
	for _, a := range n.Status.Addresses {
		switch a.Type {
		case corev1.NodeInternalIP:
			out.Spec.Addresses = append(out.Spec.Addresses, v3.NodeAddress{Address: a.Address, Type: v3.NodeAddressInternalIP})
		case corev1.NodeExternalIP:
			out.Spec.Addresses = append(out.Spec.Addresses, v3.NodeAddress{Address: a.Address, Type: v3.NodeAddressExternalIP})
		}
	}
	out.Spec.OrchRefs = []v3.OrchRef{{NodeName: n.Name, Orchestrator: v3.OrchestratorKubernetes}}
	out.Status = v3.NodeStatus{WireguardPublicKey: ann[annotationWireguardPublicKey], WireguardPublicKeyV6: ann[annotationWireguardPublicKeyV6],
		PodCIDRs: n.Spec.PodCIDRs}
	return out
}
