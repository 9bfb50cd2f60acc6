package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// NetworkPolicy is a namespaced, tiered Calico policy. It applies to workload
// endpoints in its own namespace that its selector matches.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName={cnp,caliconetworkpolicy}
// +kubebuilder:subresource:status
// +kubebuilder:selectablefield:JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Tier",type=string,JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Order",type=number,JSONPath=`.spec.order`
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec NetworkPolicySpec `json:"spec"`
	// +optional
	Status *PolicyStatus `json:"status,omitempty"`
}

// NetworkPolicySpec is the specification of a NetworkPolicy.
//
// +kubebuilder:validation:XValidation:rule="!has(self.selector) || !self.selector.contains('global(')",message="global() can only be used in a rule's namespaceSelector",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccountSelector) || !self.serviceAccountSelector.contains('global(')",message="global() can only be used in a rule's namespaceSelector",reason=FieldValueInvalid
type NetworkPolicySpec struct {
	// Tier is the tier the policy belongs to.
	// +kubebuilder:default=default
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Tier string `json:"tier,omitempty"`

	// Order sets the policy's position within its tier: lower first, unset last,
	// ties broken by name.
	// +optional
	Order *float64 `json:"order,omitempty"`

	// Ingress rules, evaluated in order.
	// +kubebuilder:validation:MaxItems=1024
	// +listType=atomic
	// +optional
	Ingress []Rule `json:"ingress,omitempty"`

	// Egress rules, evaluated in order.
	// +kubebuilder:validation:MaxItems=1024
	// +listType=atomic
	// +optional
	Egress []Rule `json:"egress,omitempty"`

	// Selector picks the endpoints the policy applies to, e.g.
	// `app == "web" && tier in {"a", "b"}`; empty or all() selects every endpoint
	// in the namespace.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Selector string `json:"selector,omitempty"`

	// Types says whether the policy applies to ingress, egress or both. When
	// empty on write it is derived from the rules: egress rules only means
	// [Egress], otherwise [Ingress] plus Egress when there are egress rules.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	Types []PolicyType `json:"types,omitempty"`

	// ServiceAccountSelector narrows the policy to pods whose service account has
	// matching labels.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	ServiceAccountSelector string `json:"serviceAccountSelector,omitempty"`

	// PerformanceHints are hints to the policy engine; they never change what the
	// policy enforces.
	// +listType=set
	// +optional
	PerformanceHints []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// NetworkPolicyList is a list of NetworkPolicies.
// +kubebuilder:object:root=true
type NetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []NetworkPolicy `json:"items"`
}
