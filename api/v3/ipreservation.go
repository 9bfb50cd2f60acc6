package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IPReservation keeps addresses out of IPAM: they are never handed out. Existing
// allocations are not released.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPReservation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec IPReservationSpec `json:"spec"`
}

// IPReservationSpec lists the reserved ranges.
type IPReservationSpec struct {
	// ReservedCIDRs are the ranges IPAM must not hand out, in CIDR notation; a
	// bare address reserves that one address.
	// +kubebuilder:validation:MaxItems=10000
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=atomic
	// +optional
	ReservedCIDRs []string `json:"reservedCIDRs,omitempty"`
}

// IPReservationList is a list of IPReservations.
// +kubebuilder:object:root=true
type IPReservationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []IPReservation `json:"items"`
}
