package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Tier groups policies that are evaluated together. Tiers are evaluated in
// ascending order; a tier only takes part for an endpoint if one of its policies
// selects that endpoint.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Order",type=number,JSONPath=`.spec.order`,description="Order in which the tier is evaluated"
// +kubebuilder:printcolumn:name="DefaultAction",type=string,JSONPath=`.spec.defaultAction`,description="What happens to traffic no policy in the tier decides"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name != 'kube-admin' || self.spec.defaultAction == 'Pass'",message="the kube-admin tier must have defaultAction Pass",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="self.metadata.name != 'kube-baseline' || self.spec.defaultAction == 'Pass'",message="the kube-baseline tier must have defaultAction Pass",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="self.metadata.name != 'default' || self.spec.defaultAction == 'Deny'",message="the default tier must have defaultAction Deny",reason=FieldValueInvalid
type Tier struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec TierSpec `json:"spec"`
	// +optional
	Status TierStatus `json:"status,omitempty"`
}

// TierSpec is the specification of a Tier.
type TierSpec struct {
	// Order sets when the tier is evaluated: lower first, unset last, ties broken
	// by name.
	// +optional
	Order *float64 `json:"order,omitempty"`

	// DefaultAction is what happens to traffic that reaches the end of the tier
	// without a verdict: Deny drops it, Pass moves on to the next tier.
	// +kubebuilder:validation:XValidation:rule="self == 'Deny' || self == 'Pass'",message="defaultAction must be Deny or Pass",reason=FieldValueInvalid
	// +kubebuilder:default=Deny
	// +optional
	DefaultAction Action `json:"defaultAction,omitempty"`
}

// TierStatus reports the tier's conditions.
type TierStatus struct {
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TierList is a list of Tiers.
// +kubebuilder:object:root=true
type TierList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []Tier `json:"items"`
}
