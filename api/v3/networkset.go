package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// NetworkSet is a namespaced, labelled set of address ranges. Rule selectors match
// it like an endpoint, so its CIDRs take part in policy; a policy's own selector
// never selects it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName={netset,netsets}
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NetworkSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec NetworkSetSpec `json:"spec"`
}

// NetworkSetSpec holds the set's networks.
type NetworkSetSpec struct {
	// Nets lists the set's networks in CIDR notation ("10.0.0.0/8"); a bare
	// address is accepted as a single-address network.
	// +kubebuilder:validation:MaxItems=100000
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=atomic
	// +optional
	Nets []string `json:"nets,omitempty"`

	// AllowedEgressDomains are domain names (exact, or "*." and a name:
	// one or more labels, then that name) whose resolved addresses count as
	// the set's, for the destination of egress Allow rules only.
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=atomic
	// +optional
	AllowedEgressDomains []string `json:"allowedEgressDomains,omitempty"`
}

// NetworkSetList is a list of NetworkSets.
// +kubebuilder:object:root=true
type NetworkSetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []NetworkSet `json:"items"`
}

// GlobalNetworkSet is the cluster-wide form of NetworkSet; a rule
// namespaceSelector of global() matches it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName={gns,gnetset,gnetsets}
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GlobalNetworkSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec GlobalNetworkSetSpec `json:"spec"`
}

// GlobalNetworkSetSpec holds the set's networks.
type GlobalNetworkSetSpec struct {
	// Nets lists the set's networks in CIDR notation; a bare address is accepted
	// as a single-address network.
	// +kubebuilder:validation:MaxItems=100000
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=atomic
	// +optional
	Nets []string `json:"nets,omitempty"`

	// AllowedEgressDomains are domain names (exact, or "*." and a name:
	// one or more labels, then that name) whose resolved addresses count as
	// the set's, for the destination of egress Allow rules only.
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=atomic
	// +optional
	AllowedEgressDomains []string `json:"allowedEgressDomains,omitempty"`
}

// GlobalNetworkSetList is a list of GlobalNetworkSets.
// +kubebuilder:object:root=true
type GlobalNetworkSetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []GlobalNetworkSet `json:"items"`
}
