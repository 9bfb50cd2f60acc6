package v3

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StagedNetworkPolicy is a NetworkPolicy that is not enforced: it is evaluated
// alongside the enforced policies only to show, in flow logs, what would happen if
// it were applied with its StagedAction.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName={snp}
// +kubebuilder:subresource:status
// +kubebuilder:selectablefield:JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Tier",type=string,JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Order",type=number,JSONPath=`.spec.order`
// +kubebuilder:printcolumn:name="StagedAction",type=string,JSONPath=`.spec.stagedAction`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StagedNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec StagedNetworkPolicySpec `json:"spec"`
	// +optional
	Status *PolicyStatus `json:"status,omitempty"`
}

// StagedNetworkPolicySpec is a NetworkPolicySpec plus the staged action.
//
// +kubebuilder:validation:XValidation:rule="!has(self.selector) || !self.selector.contains('global(')",message="global() can only be used in a rule's namespaceSelector",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccountSelector) || !self.serviceAccountSelector.contains('global(')",message="global() can only be used in a rule's namespaceSelector",reason=FieldValueInvalid
type StagedNetworkPolicySpec struct {
	// StagedAction is what applying the staged policy would do: Set creates or
	// replaces the enforced policy, Delete removes it.
	// +kubebuilder:default=Set
	// +optional
	StagedAction StagedAction `json:"stagedAction,omitempty"`

	// +kubebuilder:default=default
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Tier string `json:"tier,omitempty"`
	// +optional
	Order *float64 `json:"order,omitempty"`
	// +kubebuilder:validation:MaxItems=1024
	// +listType=atomic
	// +optional
	Ingress []Rule `json:"ingress,omitempty"`
	// +kubebuilder:validation:MaxItems=1024
	// +listType=atomic
	// +optional
	Egress []Rule `json:"egress,omitempty"`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Selector string `json:"selector,omitempty"`
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	Types []PolicyType `json:"types,omitempty"`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	ServiceAccountSelector string `json:"serviceAccountSelector,omitempty"`
	// +listType=set
	// +optional
	PerformanceHints []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// StagedNetworkPolicyList is a list of StagedNetworkPolicies.
// +kubebuilder:object:root=true
type StagedNetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []StagedNetworkPolicy `json:"items"`
}

// StagedGlobalNetworkPolicy is the staged, never enforced form of a
// GlobalNetworkPolicy.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName={sgnp}
// +kubebuilder:subresource:status
// +kubebuilder:selectablefield:JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Tier",type=string,JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Order",type=number,JSONPath=`.spec.order`
// +kubebuilder:printcolumn:name="StagedAction",type=string,JSONPath=`.spec.stagedAction`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StagedGlobalNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec StagedGlobalNetworkPolicySpec `json:"spec"`
	// +optional
	Status *PolicyStatus `json:"status,omitempty"`
}

// StagedGlobalNetworkPolicySpec is a GlobalNetworkPolicySpec plus the staged
// action.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.doNotTrack) && self.doNotTrack && has(self.preDNAT) && self.preDNAT)",message="preDNAT and doNotTrack cannot both be true",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.preDNAT) || !self.preDNAT || !has(self.egress) || size(self.egress) == 0",message="a preDNAT policy cannot have egress rules",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.preDNAT) || !self.preDNAT || !has(self.types) || !self.types.exists(t, t == 'Egress')",message="a preDNAT policy cannot have type Egress",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="(has(self.applyOnForward) && self.applyOnForward) || ((!has(self.doNotTrack) || !self.doNotTrack) && (!has(self.preDNAT) || !self.preDNAT))",message="applyOnForward must be true when preDNAT or doNotTrack is true",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.selector) || !self.selector.contains('global(')",message="global() can only be used in a rule's namespaceSelector",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.namespaceSelector) || !self.namespaceSelector.contains('global(')",message="global() can only be used in a rule's namespaceSelector",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccountSelector) || !self.serviceAccountSelector.contains('global(')",message="global() can only be used in a rule's namespaceSelector",reason=FieldValueInvalid
type StagedGlobalNetworkPolicySpec struct {
	// StagedAction is what applying the staged policy would do.
	// +kubebuilder:default=Set
	// +optional
	StagedAction StagedAction `json:"stagedAction,omitempty"`

	// +kubebuilder:default=default
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Tier string `json:"tier,omitempty"`
	// +optional
	Order *float64 `json:"order,omitempty"`
	// +kubebuilder:validation:MaxItems=1024
	// +listType=atomic
	// +optional
	Ingress []Rule `json:"ingress,omitempty"`
	// +kubebuilder:validation:MaxItems=1024
	// +listType=atomic
	// +optional
	Egress []Rule `json:"egress,omitempty"`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Selector string `json:"selector,omitempty"`
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	Types []PolicyType `json:"types,omitempty"`
	// +optional
	DoNotTrack bool `json:"doNotTrack,omitempty"`
	// +optional
	PreDNAT bool `json:"preDNAT,omitempty"`
	// +optional
	ApplyOnForward bool `json:"applyOnForward,omitempty"`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	ServiceAccountSelector string `json:"serviceAccountSelector,omitempty"`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	NamespaceSelector string `json:"namespaceSelector,omitempty"`
	// +listType=set
	// +optional
	PerformanceHints []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// StagedGlobalNetworkPolicyList is a list of StagedGlobalNetworkPolicies.
// +kubebuilder:object:root=true
type StagedGlobalNetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []StagedGlobalNetworkPolicy `json:"items"`
}

// StagedKubernetesNetworkPolicy is the staged, never enforced form of a
// Kubernetes NetworkPolicy; its spec uses Kubernetes' own rule types.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName={sknp}
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="StagedAction",type=string,JSONPath=`.spec.stagedAction`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StagedKubernetesNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec StagedKubernetesNetworkPolicySpec `json:"spec"`
	// +optional
	Status *PolicyStatus `json:"status,omitempty"`
}

// StagedKubernetesNetworkPolicySpec is a Kubernetes NetworkPolicySpec plus the
// staged action.
type StagedKubernetesNetworkPolicySpec struct {
	// StagedAction is what applying the staged policy would do.
	// +kubebuilder:default=Set
	// +optional
	StagedAction StagedAction `json:"stagedAction,omitempty"`

	// PodSelector selects the pods in the namespace the policy applies to; empty
	// selects all of them.
	// +optional
	PodSelector metav1.LabelSelector `json:"podSelector"`

	// Ingress rules, as in a Kubernetes NetworkPolicy.
	// +listType=atomic
	// +optional
	Ingress []networkingv1.NetworkPolicyIngressRule `json:"ingress,omitempty"`

	// Egress rules, as in a Kubernetes NetworkPolicy.
	// +listType=atomic
	// +optional
	Egress []networkingv1.NetworkPolicyEgressRule `json:"egress,omitempty"`

	// PolicyTypes follows Kubernetes semantics: when empty on write it becomes
	// [Ingress], plus Egress when there are egress rules.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	PolicyTypes []networkingv1.PolicyType `json:"policyTypes,omitempty"`
}

// StagedKubernetesNetworkPolicyList is a list of StagedKubernetesNetworkPolicies.
// +kubebuilder:object:root=true
type StagedKubernetesNetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []StagedKubernetesNetworkPolicy `json:"items"`
}
