package v3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Node is Calico's view of a cluster node: its addresses, BGP settings and
// tunnel addresses. With the Kubernetes datastore it is synthesised from
// the Kubernetes Node (labels, addresses) and the projectcalico.org/*
// annotations calico-node writes on it; it has no CRD.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type Node struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec NodeSpec `json:"spec"`
	// Status is what the node reports (always present, as upstream
	// Calico's Node prints it).
	Status NodeStatus `json:"status"`
}

// NodeStatus is what the node reports.
type NodeStatus struct {
	// WireguardPublicKey and WireguardPublicKeyV6 are the node's WireGuard
	// public keys, from the projectcalico.org/WireguardPublicKey(V6)
	// annotations.
	// +optional
	WireguardPublicKey string `json:"wireguardPublicKey,omitempty"`
	// +optional
	WireguardPublicKeyV6 string `json:"wireguardPublicKeyV6,omitempty"`
	// PodCIDRs reflects the Kubernetes Node's spec.podCIDRs.
	// +optional
	PodCIDRs []string `json:"podCIDRs,omitempty"`
}

// NodeSpec describes the node.
type NodeSpec struct {
	// BGP holds the node's BGP settings (nil: the node runs no BGP).
	// +optional
	BGP *NodeBGPSpec `json:"bgp,omitempty"`
	// IPv4VXLANTunnelAddr is the address of the node's VXLAN device.
	// +optional
	IPv4VXLANTunnelAddr string `json:"ipv4VXLANTunnelAddr,omitempty"`
	// VXLANTunnelMACAddr is the MAC address of the node's VXLAN device.
	// +optional
	VXLANTunnelMACAddr string `json:"vxlanTunnelMACAddr,omitempty"`
	// IPv6VXLANTunnelAddr is the address of the node's IPv6 VXLAN device.
	// +optional
	IPv6VXLANTunnelAddr string `json:"ipv6VXLANTunnelAddr,omitempty"`
	// VXLANTunnelMACAddrV6 is the MAC address of the IPv6 VXLAN device.
	// +optional
	VXLANTunnelMACAddrV6 string `json:"vxlanTunnelMACAddrV6,omitempty"`
	// Addresses are the node's addresses as Kubernetes and Calico know
	// them.
	// +optional
	Addresses []NodeAddress `json:"addresses,omitempty"`
	// OrchRefs name the node in orchestrators.
	// +optional
	OrchRefs []OrchRef `json:"orchRefs,omitempty"`
}

// NodeBGPSpec is a node's BGP configuration.
type NodeBGPSpec struct {
	// ASNumber is the node's AS number; empty means the global one
	// (BGPConfiguration default, else 64512).
	// +optional
	ASNumber *ASNumber `json:"asNumber,omitempty"`
	// IPv4Address is the node's IPv4 address with its prefix length, e.g.
	// 10.0.0.1/24; it is the BGP router ID and session address.
	// +optional
	IPv4Address string `json:"ipv4Address,omitempty"`
	// IPv6Address is the node's IPv6 address with its prefix length.
	// +optional
	IPv6Address string `json:"ipv6Address,omitempty"`
	// IPv4IPIPTunnelAddr is the address of the node's IPIP device.
	// +optional
	IPv4IPIPTunnelAddr string `json:"ipv4IPIPTunnelAddr,omitempty"`
	// RouteReflectorClusterID, when set, makes the node a route reflector
	// with this cluster ID: it leaves the node-to-node mesh.
	// +optional
	RouteReflectorClusterID string `json:"routeReflectorClusterID,omitempty"`
}

// NodeAddress is one address of a node.
type NodeAddress struct {
	Address string `json:"address"`
	// Type is CalicoNodeIP, InternalIP or ExternalIP.
	// +optional
	Type string `json:"type,omitempty"`
}

// OrchRef names the node in an orchestrator.
type OrchRef struct {
	NodeName     string `json:"nodeName,omitempty"`
	Orchestrator string `json:"orchestrator"`
}

// Node address types.
const (
	NodeAddressCalicoNodeIP = "CalicoNodeIP"
	NodeAddressInternalIP   = "InternalIP"
	NodeAddressExternalIP   = "ExternalIP"
)

// Annotations on the Kubernetes Node that hold the Calico Node's fields
// (the Kubernetes datastore's encoding, as Calico's).
const (
	AnnotationNodeIPv4Address          = "projectcalico.org/IPv4Address"
	AnnotationNodeIPv6Address          = "projectcalico.org/IPv6Address"
	AnnotationNodeASNumber             = "projectcalico.org/ASNumber"
	AnnotationNodeRouteReflectorID     = "projectcalico.org/RouteReflectorClusterID"
	AnnotationNodeIPv4IPIPTunnelAddr   = "projectcalico.org/IPv4IPIPTunnelAddr"
	AnnotationNodeIPv4VXLANTunnelAddr  = "projectcalico.org/IPv4VXLANTunnelAddr"
	AnnotationNodeVXLANTunnelMACAddr   = "projectcalico.org/VXLANTunnelMACAddr"
	AnnotationNodeIPv6VXLANTunnelAddr  = "projectcalico.org/IPv6VXLANTunnelAddr"
	AnnotationNodeVXLANTunnelMACAddrV6 = "projectcalico.org/VXLANTunnelMACAddrV6"
)

// NodeList is a list of Nodes.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type NodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []Node `json:"items"`
}
