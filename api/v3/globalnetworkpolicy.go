package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// GlobalNetworkPolicy is a cluster-wide, tiered Calico policy. It can select
// workload endpoints in any namespace as well as host endpoints.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName={gnp,cgnp}
// +kubebuilder:subresource:status
// +kubebuilder:selectablefield:JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Tier",type=string,JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Order",type=number,JSONPath=`.spec.order`
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GlobalNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec GlobalNetworkPolicySpec `json:"spec"`
	// +optional
	Status *PolicyStatus `json:"status,omitempty"`
}

// GlobalNetworkPolicySpec is the specification of a GlobalNetworkPolicy.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.doNotTrack) && self.doNotTrack && has(self.preDNAT) && self.preDNAT)",message="preDNAT and doNotTrack cannot both be true",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.preDNAT) || !self.preDNAT || !has(self.egress) || size(self.egress) == 0",message="a preDNAT policy cannot have egress rules",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.preDNAT) || !self.preDNAT || !has(self.types) || !self.types.exists(t, t == 'Egress')",message="a preDNAT policy cannot have type Egress",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="(has(self.applyOnForward) && self.applyOnForward) || ((!has(self.doNotTrack) || !self.doNotTrack) && (!has(self.preDNAT) || !self.preDNAT))",message="applyOnForward must be true when preDNAT or doNotTrack is true",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.selector) || !self.selector.contains('global(')",message="global() can only be used in a rule's namespaceSelector",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.namespaceSelector) || !self.namespaceSelector.contains('global(')",message="global() can only be used in a rule's namespaceSelector",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccountSelector) || !self.serviceAccountSelector.contains('global(')",message="global() can only be used in a rule's namespaceSelector",reason=FieldValueInvalid
type GlobalNetworkPolicySpec struct {
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

	// Selector picks the endpoints the policy applies to; empty or all() selects
	// every endpoint.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Selector string `json:"selector,omitempty"`

	// Types says whether the policy applies to ingress, egress or both; derived
	// from the rules when empty on write (see NetworkPolicySpec.Types).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	Types []PolicyType `json:"types,omitempty"`

	// DoNotTrack applies the rules before connection tracking; allowed packets are
	// not tracked. Host endpoints only; needs applyOnForward.
	// +optional
	DoNotTrack bool `json:"doNotTrack,omitempty"`

	// PreDNAT applies the rules before DNAT. Host endpoints only, ingress only;
	// needs applyOnForward and excludes doNotTrack.
	// +optional
	PreDNAT bool `json:"preDNAT,omitempty"`

	// ApplyOnForward also applies the policy to traffic forwarded through a host
	// endpoint, not only to traffic to or from the host.
	// +optional
	ApplyOnForward bool `json:"applyOnForward,omitempty"`

	// ServiceAccountSelector narrows the policy to pods whose service account has
	// matching labels.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	ServiceAccountSelector string `json:"serviceAccountSelector,omitempty"`

	// NamespaceSelector narrows the policy to endpoints in namespaces with
	// matching labels.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	NamespaceSelector string `json:"namespaceSelector,omitempty"`

	// PerformanceHints are hints to the policy engine; they never change what the
	// policy enforces.
	// +listType=set
	// +optional
	PerformanceHints []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// GlobalNetworkPolicyList is a list of GlobalNetworkPolicies.
// +kubebuilder:object:root=true
type GlobalNetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []GlobalNetworkPolicy `json:"items"`
}
