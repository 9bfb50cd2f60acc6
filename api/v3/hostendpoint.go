package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// HostEndpoint is one of a node's own interfaces (or all of them), made subject to
// policy.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName={hep,heps}
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="Interface",type=string,JSONPath=`.spec.interfaceName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type HostEndpoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec HostEndpointSpec `json:"spec"`
}

// HostEndpointSpec is the specification of a HostEndpoint.
//
// +kubebuilder:validation:XValidation:rule="has(self.node) && size(self.node) > 0",message="node must be set",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="(has(self.interfaceName) && size(self.interfaceName) > 0) || (has(self.expectedIPs) && size(self.expectedIPs) > 0)",message="give interfaceName, expectedIPs or both",reason=FieldValueRequired
type HostEndpointSpec struct {
	// Node is the name of the node the interface belongs to.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Node string `json:"node,omitempty"`

	// InterfaceName is the interface's name, or "*" for all of the node's
	// interfaces. When empty the endpoint is identified by ExpectedIPs.
	// +kubebuilder:validation:MaxLength=15
	// +optional
	InterfaceName string `json:"interfaceName,omitempty"`

	// ExpectedIPs are the addresses of the interface; selectors that match the
	// endpoint use them.
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=atomic
	// +optional
	ExpectedIPs []string `json:"expectedIPs,omitempty"`

	// Profiles are applied after the endpoint's policies, in order.
	// +listType=atomic
	// +optional
	Profiles []string `json:"profiles,omitempty"`

	// Ports names ports of the endpoint so that rules can refer to them by name.
	// +listType=atomic
	// +optional
	Ports []EndpointPort `json:"ports,omitempty"`
}

// EndpointPort is a named port of a host endpoint.
type EndpointPort struct {
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
	// Protocol is TCP, UDP or SCTP.
	Protocol Protocol `json:"protocol"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port uint16 `json:"port"`
}

// HostEndpointList is a list of HostEndpoints.
// +kubebuilder:object:root=true
type HostEndpointList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []HostEndpoint `json:"items"`
}
