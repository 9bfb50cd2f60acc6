package v3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// WorkloadEndpoint is a pod's network interface as policy sees it. It is
// synthesised from the Pod (and the CNI plugin's annotations), never stored; its
// name is "<node>-k8s-<pod>-<endpoint>" with each "-" inside the parts doubled.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type WorkloadEndpoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec WorkloadEndpointSpec `json:"spec"`
}

// WorkloadEndpointSpec describes the endpoint.
type WorkloadEndpointSpec struct {
	// Orchestrator is "k8s" for pods.
	// +optional
	Orchestrator string `json:"orchestrator,omitempty"`
	// Workload names the workload for orchestrators other than Kubernetes.
	// +optional
	Workload string `json:"workload,omitempty"`
	// Node is the node the endpoint lives on.
	// +optional
	Node string `json:"node,omitempty"`
	// ContainerID is the sandbox container's ID.
	// +optional
	ContainerID string `json:"containerID,omitempty"`
	// Pod is the pod's name.
	// +optional
	Pod string `json:"pod,omitempty"`
	// Endpoint is the interface name inside the pod, e.g. eth0.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// ServiceAccountName is the pod's service account.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// IPNetworks are the endpoint's addresses as /32 or /128 networks; traffic
	// from other sources is dropped.
	// +optional
	IPNetworks []string `json:"ipNetworks,omitempty"`
	// IPNATs are 1:1 NAT mappings (floating IPs) to the endpoint's addresses.
	// +optional
	IPNATs []IPNAT `json:"ipNATs,omitempty"`
	// IPv4Gateway is the IPv4 gateway the workload uses.
	// +optional
	IPv4Gateway string `json:"ipv4Gateway,omitempty"`
	// IPv6Gateway is the IPv6 gateway the workload uses.
	// +optional
	IPv6Gateway string `json:"ipv6Gateway,omitempty"`
	// Profiles are applied after the policies, in order: "kns.<namespace>" and
	// "ksa.<namespace>.<serviceaccount>" for pods.
	// +optional
	Profiles []string `json:"profiles,omitempty"`
	// InterfaceName is the host side of the veth, e.g. cali1234567890a.
	// +optional
	InterfaceName string `json:"interfaceName,omitempty"`
	// MAC is the MAC address of the workload's interface.
	// +optional
	MAC string `json:"mac,omitempty"`
	// Ports are the pod's named and host ports.
	// +optional
	Ports []WorkloadEndpointPort `json:"ports,omitempty"`
	// AllowSpoofedSourcePrefixes are extra source ranges the workload may send
	// from.
	// +optional
	AllowSpoofedSourcePrefixes []string `json:"allowSpoofedSourcePrefixes,omitempty"`
	// QoSControls limit the endpoint's bandwidth, packet rate and connections.
	// +optional
	QoSControls *QoSControls `json:"qosControls,omitempty"`
}

// WorkloadEndpointPort is a named or host-mapped port of a pod.
type WorkloadEndpointPort struct {
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	Port     uint16   `json:"port"`
	// +optional
	HostPort uint16 `json:"hostPort"`
	// +optional
	HostIP string `json:"hostIP"`
}

// IPNAT maps an external (floating) address to one of the endpoint's addresses.
type IPNAT struct {
	InternalIP string `json:"internalIP"`
	ExternalIP string `json:"externalIP"`
}

// QoSControls holds per-endpoint limits; a zero value means no limit.
type QoSControls struct {
	// +optional
	IngressBandwidth int64 `json:"ingressBandwidth,omitempty"`
	// +optional
	IngressBurst int64 `json:"ingressBurst,omitempty"`
	// +optional
	IngressPeakrate int64 `json:"ingressPeakrate,omitempty"`
	// +optional
	IngressMinburst int64 `json:"ingressMinburst,omitempty"`
	// +optional
	EgressBandwidth int64 `json:"egressBandwidth,omitempty"`
	// +optional
	EgressBurst int64 `json:"egressBurst,omitempty"`
	// +optional
	EgressPeakrate int64 `json:"egressPeakrate,omitempty"`
	// +optional
	EgressMinburst int64 `json:"egressMinburst,omitempty"`
	// +optional
	IngressPacketRate int64 `json:"ingressPacketRate,omitempty"`
	// +optional
	IngressPacketBurst int64 `json:"ingressPacketBurst,omitempty"`
	// +optional
	EgressPacketRate int64 `json:"egressPacketRate,omitempty"`
	// +optional
	EgressPacketBurst int64 `json:"egressPacketBurst,omitempty"`
	// +optional
	IngressMaxConnections int64 `json:"ingressMaxConnections,omitempty"`
	// +optional
	EgressMaxConnections int64 `json:"egressMaxConnections,omitempty"`
	// DSCP marks the endpoint's egress traffic: a number 0-63 or a name such as
	// "AF11" or "EF".
	// +optional
	DSCP *intstr.IntOrString `json:"dscp,omitempty"`
}

// WorkloadEndpointList is a list of WorkloadEndpoints.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type WorkloadEndpointList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []WorkloadEndpoint `json:"items"`
}
