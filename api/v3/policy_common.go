package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// PolicyType says which direction of traffic a policy applies to.
// +kubebuilder:validation:Enum=Ingress;Egress
type PolicyType string

const (
	PolicyTypeIngress PolicyType = "Ingress"
	PolicyTypeEgress  PolicyType = "Egress"
)

// Action is what a rule does with a packet it matches.
// +kubebuilder:validation:Enum=Allow;Deny;Log;Pass
type Action string

const (
	// Allow accepts the packet for this direction: no later policy, tier or
	// profile is evaluated.
	Allow Action = "Allow"
	// Deny drops the packet.
	Deny Action = "Deny"
	// Log logs the packet and carries on with the next rule.
	Log Action = "Log"
	// Pass skips the rest of the tier and continues with the next tier.
	Pass Action = "Pass"
)

// StagedAction says what applying a staged policy would do to its enforced
// counterpart.
// +kubebuilder:validation:Enum=Set;Delete;Learn;Ignore
type StagedAction string

const (
	StagedActionSet    StagedAction = "Set"
	StagedActionDelete StagedAction = "Delete"
	StagedActionLearn  StagedAction = "Learn"
	StagedActionIgnore StagedAction = "Ignore"
)

// PolicyPerformanceHint is a hint to the policy engine that never changes what a
// policy enforces.
// +kubebuilder:validation:Enum=AssumeNeededOnEveryNode
type PolicyPerformanceHint string

// PerfHintAssumeNeededOnEveryNode makes Felix program the policy on every node
// whether or not a local endpoint selects it.
const PerfHintAssumeNeededOnEveryNode PolicyPerformanceHint = "AssumeNeededOnEveryNode"

// Rule is one match-and-act entry of a policy or profile. Every criterion given
// must match for the rule to match; each criterion has a negated "not" form.
//
// +kubebuilder:validation:XValidation:rule="!has(self.http) || !has(self.protocol) || self.protocol == 'TCP' || self.protocol == 6",message="rules with an http match must have protocol TCP or no protocol",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.icmp) || (has(self.protocol) && (self.protocol == 'ICMP' || self.protocol == 'ICMPv6' || self.protocol == 1 || self.protocol == 58))",message="icmp requires protocol ICMP or ICMPv6",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.notICMP) || (has(self.protocol) && (self.protocol == 'ICMP' || self.protocol == 'ICMPv6' || self.protocol == 1 || self.protocol == 58))",message="notICMP requires protocol ICMP or ICMPv6",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.protocol) || !has(self.ipVersion) || !(self.protocol == 'ICMP' || self.protocol == 1) || self.ipVersion == 4",message="protocol ICMP requires ipVersion 4",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.protocol) || !has(self.ipVersion) || !(self.protocol == 'ICMPv6' || self.protocol == 58) || self.ipVersion == 6",message="protocol ICMPv6 requires ipVersion 6",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="(has(self.protocol) && (self.protocol == 'TCP' || self.protocol == 'UDP' || self.protocol == 'SCTP' || self.protocol == 6 || self.protocol == 17 || self.protocol == 132)) || (!has(self.protocol) && (!has(self.source) || !has(self.source.ports) || self.source.ports.all(p, type(p) == string && p.matches('[a-z]'))) && (!has(self.source) || !has(self.source.notPorts) || self.source.notPorts.all(p, type(p) == string && p.matches('[a-z]'))) && (!has(self.destination) || !has(self.destination.ports) || self.destination.ports.all(p, type(p) == string && p.matches('[a-z]'))) && (!has(self.destination) || !has(self.destination.notPorts) || self.destination.notPorts.all(p, type(p) == string && p.matches('[a-z]')))) || ((!has(self.source) || ((!has(self.source.ports) || size(self.source.ports) == 0) && (!has(self.source.notPorts) || size(self.source.notPorts) == 0))) && (!has(self.destination) || ((!has(self.destination.ports) || size(self.destination.ports) == 0) && (!has(self.destination.notPorts) || size(self.destination.notPorts) == 0))))",message="ports and notPorts require protocol TCP, UDP or SCTP, except named ports in a rule without a protocol",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.destination) || !has(self.destination.services) || ((!has(self.destination.ports) || size(self.destination.ports) == 0) && (!has(self.destination.notPorts) || size(self.destination.notPorts) == 0))",message="destination ports and notPorts cannot be combined with destination services (the service's own ports are used)",reason=FieldValueForbidden
type Rule struct {
	// Action is what happens to a packet the rule matches.
	Action Action `json:"action"`

	// IPVersion restricts the rule to IPv4 (4) or IPv6 (6) traffic.
	// +kubebuilder:validation:Enum=4;6
	// +optional
	IPVersion *int `json:"ipVersion,omitempty"`

	// Protocol restricts the rule to one IP protocol: TCP, UDP, ICMP, ICMPv6, SCTP,
	// UDPLite or a number 1-255. Required when ports are matched.
	// +optional
	Protocol *Protocol `json:"protocol,omitempty"`

	// ICMP restricts the rule to an ICMP type and code; needs protocol ICMP or ICMPv6.
	// +optional
	ICMP *ICMPFields `json:"icmp,omitempty"`

	// NotProtocol is the negation of Protocol.
	// +optional
	NotProtocol *Protocol `json:"notProtocol,omitempty"`

	// NotICMP is the negation of ICMP.
	// +optional
	NotICMP *ICMPFields `json:"notICMP,omitempty"`

	// Source matches the sending side of the packet.
	// +optional
	Source EntityRule `json:"source,omitzero"`

	// Destination matches the receiving side of the packet.
	// +optional
	Destination EntityRule `json:"destination,omitzero"`

	// HTTP matches HTTP requests (ingress rules only). This dataplane has no L7
	// proxy: it enforces the rule's L3/L4 part and warns that HTTP is not matched.
	// +optional
	HTTP *HTTPMatch `json:"http,omitempty"`

	// Metadata carries annotations that are rendered into the dataplane as
	// comments.
	// +optional
	Metadata *RuleMetadata `json:"metadata,omitempty"`
}

// RuleMetadata holds free-form information about a rule.
type RuleMetadata struct {
	// Annotations are key/value pairs describing the rule.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ICMPFields matches an ICMP type and, optionally, a code.
// +kubebuilder:validation:XValidation:rule="!has(self.code) || has(self.type)",message="an ICMP code requires an ICMP type",reason=FieldValueInvalid
type ICMPFields struct {
	// Type is the ICMP type, e.g. 8 for echo request.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=254
	// +optional
	Type *int `json:"type,omitempty"`

	// Code is the ICMP code; needs Type.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=255
	// +optional
	Code *int `json:"code,omitempty"`
}

// HTTPMatch matches HTTP requests; methods and paths are AND-ed, the members of
// each list are OR-ed.
type HTTPMatch struct {
	// Methods lists HTTP methods such as GET or PUT.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	Methods []string `json:"methods,omitempty"`

	// Paths lists path matches, each either exact or a prefix.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	Paths []HTTPPath `json:"paths,omitempty"`
}

// HTTPPath is an exact path or a path prefix; exactly one must be given.
// +kubebuilder:validation:XValidation:rule="has(self.exact) != has(self.prefix)",message="give exactly one of exact or prefix",reason=FieldValueInvalid
type HTTPPath struct {
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Exact string `json:"exact,omitempty"`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Prefix string `json:"prefix,omitempty"`
}

// EntityRule matches one side (source or destination) of a packet. All criteria
// given must match; the members of a list are OR-ed.
//
// +kubebuilder:validation:XValidation:rule="!has(self.selector) || !self.selector.contains('global(')",message="global() can only be used in namespaceSelector",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.notSelector) || !self.notSelector.contains('global(')",message="global() can only be used in namespaceSelector",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.services) || ((!has(self.selector) || size(self.selector) == 0) && (!has(self.notSelector) || size(self.notSelector) == 0) && (!has(self.namespaceSelector) || size(self.namespaceSelector) == 0) && (!has(self.nets) || size(self.nets) == 0) && (!has(self.notNets) || size(self.notNets) == 0) && !has(self.serviceAccounts))",message="services cannot be combined with selector, notSelector, namespaceSelector, nets, notNets or serviceAccounts",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.services) || size(self.services.name) > 0",message="services must name a service",reason=FieldValueRequired
type EntityRule struct {
	// Nets matches addresses in any of these CIDRs.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=atomic
	// +optional
	Nets []string `json:"nets,omitempty"`

	// Selector matches Calico endpoints and network sets with these labels.
	// "!has(x)" matches only known endpoints lacking x, whereas notSelector
	// "has(x)" also matches addresses Calico does not know.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Selector string `json:"selector,omitempty"`

	// NamespaceSelector selects namespaces by their labels. In a NetworkPolicy an
	// empty value means the policy's own namespace; "global()" means only
	// non-namespaced endpoints and sets; "all()" means every namespace.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	NamespaceSelector string `json:"namespaceSelector,omitempty"`

	// Services matches the endpoints of a Kubernetes Service. It cannot be combined
	// with selectors, nets or service accounts.
	// +optional
	Services *ServiceMatch `json:"services,omitempty"`

	// Ports matches port numbers, "min:max" ranges or named ports; needs protocol
	// TCP, UDP or SCTP.
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	// +optional
	Ports []Port `json:"ports,omitempty"`

	// NotNets is the negation of Nets: the address must be in none of them.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=atomic
	// +optional
	NotNets []string `json:"notNets,omitempty"`

	// NotSelector is the negation of Selector.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	NotSelector string `json:"notSelector,omitempty"`

	// NotPorts is the negation of Ports.
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	// +optional
	NotPorts []Port `json:"notPorts,omitempty"`

	// ServiceAccounts matches pods running as the given service accounts.
	// +optional
	ServiceAccounts *ServiceAccountMatch `json:"serviceAccounts,omitempty"`

	// Domains matches the addresses these domain names resolved to, as
	// answers from trusted DNS servers gave them: exact names, or a
	// leading "*." standing for one or more labels ("*.example.com").
	// Only in the destination of an egress Allow rule.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=atomic
	// +optional
	Domains []string `json:"domains,omitempty"`
}

// ServiceMatch names a Kubernetes Service.
type ServiceMatch struct {
	// Name of the service.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Name string `json:"name,omitempty"`
	// Namespace of the service; empty means the policy's namespace.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// ServiceAccountMatch matches pods by service account; names and selector are
// AND-ed.
type ServiceAccountMatch struct {
	// Names lists service account names.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=atomic
	// +optional
	Names []string `json:"names,omitempty"`
	// Selector selects service accounts by their labels.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Selector string `json:"selector,omitempty"`
}

// PolicyStatus reports conditions on a policy, for example whether it passed
// validation.
type PolicyStatus struct {
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
