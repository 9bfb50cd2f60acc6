package v3

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPPeer configures BGP sessions between Calico nodes and a peer: an address
// outside the cluster or other Calico nodes picked by selector.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="NodeSelector",type=string,JSONPath=`.spec.nodeSelector`
// +kubebuilder:printcolumn:name="PeerIP",type=string,JSONPath=`.spec.peerIP`
// +kubebuilder:printcolumn:name="PeerSelector",type=string,JSONPath=`.spec.peerSelector`
// +kubebuilder:printcolumn:name="ASN",type=integer,JSONPath=`.spec.asNumber`
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec BGPPeerSpec `json:"spec"`
}

// BGPPeerSpec is the specification of a BGPPeer.
//
// +kubebuilder:validation:XValidation:rule="!has(self.node) || size(self.node) == 0 || !has(self.nodeSelector) || size(self.nodeSelector) == 0",message="node and nodeSelector cannot both be set",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.peerIP) || size(self.peerIP) == 0 || !has(self.peerSelector) || size(self.peerSelector) == 0",message="peerIP and peerSelector cannot both be set",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.peerSelector) || size(self.peerSelector) == 0 || !has(self.asNumber) || self.asNumber == 0",message="asNumber must be empty when peerSelector is set (the selected nodes' own AS numbers are used)",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.localWorkloadSelector) || size(self.localWorkloadSelector) == 0 || ((!has(self.peerIP) || size(self.peerIP) == 0) && (!has(self.peerSelector) || size(self.peerSelector) == 0))",message="peerIP and peerSelector must be empty when localWorkloadSelector is set",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.localWorkloadSelector) || size(self.localWorkloadSelector) == 0 || (has(self.asNumber) && self.asNumber != 0)",message="asNumber is required when localWorkloadSelector is set",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.reachableBy) || size(self.reachableBy) == 0 || (has(self.peerIP) && size(self.peerIP) > 0)",message="reachableBy needs peerIP",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.keepOriginalNextHop) || !self.keepOriginalNextHop || !has(self.nextHopMode)",message="keepOriginalNextHop and nextHopMode cannot both be set; keepOriginalNextHop is deprecated, use nextHopMode",reason=FieldValueForbidden
type BGPPeerSpec struct {
	// Node limits the peering to one node. With neither node nor nodeSelector,
	// every node peers.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Node string `json:"node,omitempty"`

	// NodeSelector picks the nodes that peer.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	NodeSelector string `json:"nodeSelector,omitempty"`

	// PeerIP is the peer's address with an optional port: "10.0.0.1",
	// "10.0.0.1:1179", "fd00::1" or "[fd00::1]:1179".
	// +kubebuilder:validation:MaxLength=64
	// +optional
	PeerIP string `json:"peerIP,omitempty"`

	// ASNumber is the peer's AS number.
	// +optional
	ASNumber ASNumber `json:"asNumber,omitempty"`

	// PeerSelector picks Calico nodes to peer with; their own addresses and AS
	// numbers are used.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	PeerSelector string `json:"peerSelector,omitempty"`

	// LocalASNumber overrides the local AS number for these sessions.
	// +optional
	LocalASNumber *ASNumber `json:"localASNumber,omitempty"`

	// KeepOriginalNextHop keeps the next hop of routes sent to the peer.
	// Deprecated: use NextHopMode Keep.
	// +optional
	KeepOriginalNextHop bool `json:"keepOriginalNextHop,omitempty"`

	// NextHopMode sets the next hop of routes sent to the peer: Auto (BGP's
	// default), Self or Keep.
	// +kubebuilder:validation:Enum=Auto;Self;Keep
	// +optional
	NextHopMode *NextHopMode `json:"nextHopMode,omitempty"`

	// Password protects the sessions.
	// +optional
	Password *BGPPassword `json:"password,omitempty"`

	// SourceAddress UseNodeIP (the default) binds the sessions to the node's IP;
	// None lets the kernel choose.
	// +kubebuilder:validation:Enum=UseNodeIP;None
	// +optional
	SourceAddress SourceAddress `json:"sourceAddress,omitempty"`

	// MaxRestartTime is the graceful-restart time (unset means BIRD's 120s).
	// +optional
	MaxRestartTime *metav1.Duration `json:"maxRestartTime,omitempty"`

	// NumAllowedLocalASNumbers lets received routes contain the local AS number
	// this many times (disables loop prevention).
	// +optional
	NumAllowedLocalASNumbers *int32 `json:"numAllowedLocalASNumbers,omitempty"`

	// TTLSecurity enables GTSM with the given number of hops.
	// +kubebuilder:validation:Maximum=255
	// +optional
	TTLSecurity *uint8 `json:"ttlSecurity,omitempty"`

	// KeepaliveTime is the BGP keepalive interval.
	// +optional
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// ReachableBy is a gateway through which a /32 (or /128) route to the peer
	// is installed, to keep the session from flapping.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	ReachableBy string `json:"reachableBy,omitempty"`

	// Filters are BGPFilter names applied to the sessions, in order.
	// +listType=atomic
	// +optional
	Filters []string `json:"filters,omitempty"`

	// LocalWorkloadSelector makes the node peer with its own workloads that match;
	// peerIP and peerSelector must then be empty and asNumber set.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	LocalWorkloadSelector string `json:"localWorkloadSelector,omitempty"`

	// ReversePeering Manual stops the reverse session of a node-to-node peering
	// from being generated; a separate BGPPeer must then describe it.
	// +kubebuilder:validation:Enum=Auto;Manual
	// +optional
	ReversePeering *ReversePeering `json:"reversePeering,omitempty"`
}

// NextHopMode controls the next hop of routes sent to a peer.
type NextHopMode string

const (
	NextHopModeAuto NextHopMode = "Auto"
	NextHopModeSelf NextHopMode = "Self"
	NextHopModeKeep NextHopMode = "Keep"
)

// SourceAddress controls the source address of BGP sessions.
type SourceAddress string

const (
	SourceAddressUseNodeIP SourceAddress = "UseNodeIP"
	SourceAddressNone      SourceAddress = "None"
)

// ReversePeering controls whether reverse node-to-node sessions are implied.
type ReversePeering string

const (
	ReversePeeringAuto   ReversePeering = "Auto"
	ReversePeeringManual ReversePeering = "Manual"
)

// BGPPassword says where a BGP password comes from.
type BGPPassword struct {
	// SecretKeyRef selects a key of a Secret in calico-node's namespace.
	// +optional
	SecretKeyRef *corev1.SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// BGPPeerList is a list of BGPPeers.
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []BGPPeer `json:"items"`
}
