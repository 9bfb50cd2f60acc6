package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BGPFilter holds ordered import and export rules that BGPPeers refer to by name.
// The first rule that matches a route decides; a route no rule matches gets BIRD's
// default treatment.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPFilter struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec BGPFilterSpec `json:"spec"`
}

// BGPFilterSpec holds the rules for each address family and direction.
type BGPFilterSpec struct {
	// ExportV4 rules apply to IPv4 routes sent to peers.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	// +optional
	ExportV4 []BGPFilterRuleV4 `json:"exportV4,omitempty"`
	// ImportV4 rules apply to IPv4 routes received from peers.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	// +optional
	ImportV4 []BGPFilterRuleV4 `json:"importV4,omitempty"`
	// ExportV6 rules apply to IPv6 routes sent to peers.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	// +optional
	ExportV6 []BGPFilterRuleV6 `json:"exportV6,omitempty"`
	// ImportV6 rules apply to IPv6 routes received from peers.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	// +optional
	ImportV6 []BGPFilterRuleV6 `json:"importV6,omitempty"`
}

// BGPFilterRuleV4 is one IPv4 filter rule: match criteria, an action and, for
// Accept, optional route modifications.
//
// +kubebuilder:validation:XValidation:rule="(has(self.cidr) && size(self.cidr) > 0) == (has(self.matchOperator) && size(self.matchOperator) > 0)",message="cidr and matchOperator must be set together",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.prefixLength) || (has(self.cidr) && size(self.cidr) > 0)",message="prefixLength needs cidr",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.operations) || size(self.operations) == 0 || self.action == 'Accept'",message="operations are only allowed with action Accept",reason=FieldValueForbidden
type BGPFilterRuleV4 struct {
	// CIDR restricts the rule to routes that match it according to MatchOperator
	// and PrefixLength.
	// +kubebuilder:validation:MaxLength=18
	// +optional
	CIDR string `json:"cidr,omitempty"`
	// PrefixLength further restricts the prefix lengths that match the CIDR.
	// +optional
	PrefixLength *BGPFilterPrefixLengthV4 `json:"prefixLength,omitempty"`
	// Source RemotePeers restricts the rule to routes learned from BGP peers.
	// +optional
	Source BGPFilterMatchSource `json:"source,omitempty"`
	// Interface restricts the rule to routes through matching interfaces (a BIRD
	// glob such as "eth*").
	// +optional
	Interface string `json:"interface,omitempty"`
	// MatchOperator says how the route's prefix is compared with CIDR.
	// +optional
	MatchOperator BGPFilterMatchOperator `json:"matchOperator,omitempty"`
	// PeerType restricts the rule to eBGP or iBGP peers.
	// +optional
	PeerType BGPFilterPeerType `json:"peerType,omitempty"`
	// Communities restricts the rule to routes that carry the given community.
	// +optional
	Communities *BGPFilterCommunityMatch `json:"communities,omitempty"`
	// ASPathPrefix restricts the rule to routes whose AS path starts with these
	// AS numbers.
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	// +optional
	ASPathPrefix []ASNumber `json:"asPathPrefix,omitempty"`
	// Priority restricts the rule to routes with this priority (metric).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483646
	// +optional
	Priority *int `json:"priority,omitempty"`
	// Action is Accept or Reject.
	Action BGPFilterAction `json:"action"`
	// Operations modify accepted routes, in order; each sets exactly one field.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	// +optional
	Operations []BGPFilterOperation `json:"operations,omitempty"`
}

// BGPFilterRuleV6 is the IPv6 form of BGPFilterRuleV4.
//
// +kubebuilder:validation:XValidation:rule="(has(self.cidr) && size(self.cidr) > 0) == (has(self.matchOperator) && size(self.matchOperator) > 0)",message="cidr and matchOperator must be set together",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.prefixLength) || (has(self.cidr) && size(self.cidr) > 0)",message="prefixLength needs cidr",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.operations) || size(self.operations) == 0 || self.action == 'Accept'",message="operations are only allowed with action Accept",reason=FieldValueForbidden
type BGPFilterRuleV6 struct {
	// +kubebuilder:validation:MaxLength=43
	// +optional
	CIDR string `json:"cidr,omitempty"`
	// +optional
	PrefixLength *BGPFilterPrefixLengthV6 `json:"prefixLength,omitempty"`
	// +optional
	Source BGPFilterMatchSource `json:"source,omitempty"`
	// +optional
	Interface string `json:"interface,omitempty"`
	// +optional
	MatchOperator BGPFilterMatchOperator `json:"matchOperator,omitempty"`
	// +optional
	PeerType BGPFilterPeerType `json:"peerType,omitempty"`
	// +optional
	Communities *BGPFilterCommunityMatch `json:"communities,omitempty"`
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	// +optional
	ASPathPrefix []ASNumber `json:"asPathPrefix,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483646
	// +optional
	Priority *int            `json:"priority,omitempty"`
	Action   BGPFilterAction `json:"action"`
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	// +optional
	Operations []BGPFilterOperation `json:"operations,omitempty"`
}

// BGPFilterPrefixLengthV4 bounds the prefix length of matching IPv4 routes.
type BGPFilterPrefixLengthV4 struct {
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=32
	// +optional
	Min *int32 `json:"min,omitempty"`
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=32
	// +optional
	Max *int32 `json:"max,omitempty"`
}

// BGPFilterPrefixLengthV6 bounds the prefix length of matching IPv6 routes.
type BGPFilterPrefixLengthV6 struct {
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +optional
	Min *int32 `json:"min,omitempty"`
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +optional
	Max *int32 `json:"max,omitempty"`
}

// BGPFilterMatchSource restricts a rule by where the route came from.
// +kubebuilder:validation:Enum=RemotePeers
type BGPFilterMatchSource string

// BGPFilterSourceRemotePeers matches routes learned from BGP peers.
const BGPFilterSourceRemotePeers BGPFilterMatchSource = "RemotePeers"

// BGPFilterMatchOperator compares a route's prefix with a rule's CIDR.
// +kubebuilder:validation:Enum=Equal;NotEqual;In;NotIn
type BGPFilterMatchOperator string

const (
	MatchOperatorEqual    BGPFilterMatchOperator = "Equal"
	MatchOperatorNotEqual BGPFilterMatchOperator = "NotEqual"
	MatchOperatorIn       BGPFilterMatchOperator = "In"
	MatchOperatorNotIn    BGPFilterMatchOperator = "NotIn"
)

// BGPFilterAction is a filter rule's verdict.
// +kubebuilder:validation:Enum=Accept;Reject
type BGPFilterAction string

const (
	BGPFilterAccept BGPFilterAction = "Accept"
	BGPFilterReject BGPFilterAction = "Reject"
)

// BGPFilterPeerType restricts a rule to one kind of peer.
// +kubebuilder:validation:Enum=eBGP;iBGP
type BGPFilterPeerType string

const (
	BGPFilterPeerTypeEBGP BGPFilterPeerType = "eBGP"
	BGPFilterPeerTypeIBGP BGPFilterPeerType = "iBGP"
)

// BGPCommunityValue is a standard community "aa:nn" (16-bit parts) or a large
// community "aa:nn:mm" (32-bit parts).
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:Pattern=`^[0-9]{1,10}:[0-9]{1,10}(:[0-9]{1,10})?$`
type BGPCommunityValue string

// BGPFilterCommunityMatch matches routes carrying a community.
type BGPFilterCommunityMatch struct {
	// Values holds the community to match (one value for now).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1
	// +listType=atomic
	Values []BGPCommunityValue `json:"values"`
}

// BGPFilterOperation is one route modification; exactly one field is set.
// +kubebuilder:validation:XValidation:rule="(has(self.addCommunity) ? 1 : 0) + (has(self.prependASPath) ? 1 : 0) + (has(self.setPriority) ? 1 : 0) == 1",message="set exactly one of addCommunity, prependASPath or setPriority",reason=FieldValueInvalid
type BGPFilterOperation struct {
	// +optional
	AddCommunity *BGPFilterAddCommunity `json:"addCommunity,omitempty"`
	// +optional
	PrependASPath *BGPFilterPrependASPath `json:"prependASPath,omitempty"`
	// +optional
	SetPriority *BGPFilterSetPriority `json:"setPriority,omitempty"`
}

// BGPFilterAddCommunity adds a community to the route.
type BGPFilterAddCommunity struct {
	Value BGPCommunityValue `json:"value"`
}

// BGPFilterPrependASPath prepends AS numbers to the route's AS path, in the
// order given.
type BGPFilterPrependASPath struct {
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Prefix []ASNumber `json:"prefix"`
}

// BGPFilterSetPriority sets the route's priority (metric).
type BGPFilterSetPriority struct {
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483646
	Value int `json:"value"`
}

// BGPFilterList is a list of BGPFilters.
// +kubebuilder:object:root=true
type BGPFilterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []BGPFilter `json:"items"`
}
