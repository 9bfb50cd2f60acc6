package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// CalicoNodeStatus asks a node to report its BGP agent, session and route status
// into the object's status every UpdatePeriodSeconds.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="LastUpdated",type=date,JSONPath=`.status.lastUpdated`
type CalicoNodeStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	// +optional
	Spec CalicoNodeStatusSpec `json:"spec,omitempty"`
	// +optional
	Status CalicoNodeStatusStatus `json:"status,omitempty"`
}

// CalicoNodeStatusSpec says which node reports what, and how often.
type CalicoNodeStatusSpec struct {
	// Node is the node that reports.
	// +optional
	Node string `json:"node,omitempty"`
	// Classes are the kinds of status to report.
	// +listType=atomic
	// +optional
	Classes []NodeStatusClassType `json:"classes,omitempty"`
	// UpdatePeriodSeconds is the reporting interval; 0 stops reporting.
	// +kubebuilder:validation:Minimum=0
	// +optional
	UpdatePeriodSeconds *uint32 `json:"updatePeriodSeconds,omitempty"`
}

// NodeStatusClassType is a kind of node status.
// +kubebuilder:validation:Enum=Agent;BGP;Routes
type NodeStatusClassType string

const (
	NodeStatusClassTypeAgent  NodeStatusClassType = "Agent"
	NodeStatusClassTypeBGP    NodeStatusClassType = "BGP"
	NodeStatusClassTypeRoutes NodeStatusClassType = "Routes"
)

// CalicoNodeStatusStatus is what the node reported.
type CalicoNodeStatusStatus struct {
	// LastUpdated is when the node last wrote the status.
	// +nullable
	// +optional
	LastUpdated metav1.Time `json:"lastUpdated,omitempty"`
	// +optional
	Agent CalicoNodeAgentStatus `json:"agent,omitempty"`
	// +optional
	BGP CalicoNodeBGPStatus `json:"bgp,omitempty"`
	// +optional
	Routes CalicoNodeBGPRouteStatus `json:"routes,omitempty"`
	// Conditions are the node's findings about its configuration, whatever
	// the classes asked for (an extension of Calico's status): for
	// example IPIPUnsupported, True while an IP pool asks for IPIP, which
	// this calico-node routes without encapsulation.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// CalicoNodeAgentStatus is the status of the BGP daemons.
type CalicoNodeAgentStatus struct {
	// +optional
	BIRDV4 BGPDaemonStatus `json:"birdV4,omitempty"`
	// +optional
	BIRDV6 BGPDaemonStatus `json:"birdV6,omitempty"`
}

// BGPDaemonStatus is the status of one BIRD instance.
type BGPDaemonStatus struct {
	// State is Ready or NotReady.
	// +optional
	State string `json:"state,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	RouterID string `json:"routerID,omitempty"`
	// +optional
	LastBootTime string `json:"lastBootTime,omitempty"`
	// +optional
	LastReconfigurationTime string `json:"lastReconfigurationTime,omitempty"`
}

// CalicoNodeBGPStatus summarises the node's BGP sessions.
type CalicoNodeBGPStatus struct {
	NumberEstablishedV4    int `json:"numberEstablishedV4"`
	NumberNotEstablishedV4 int `json:"numberNotEstablishedV4"`
	NumberEstablishedV6    int `json:"numberEstablishedV6"`
	NumberNotEstablishedV6 int `json:"numberNotEstablishedV6"`
	// +listType=atomic
	// +optional
	PeersV4 []CalicoNodePeer `json:"peersV4,omitempty"`
	// +listType=atomic
	// +optional
	PeersV6 []CalicoNodePeer `json:"peersV6,omitempty"`
}

// CalicoNodePeer is one BGP session.
type CalicoNodePeer struct {
	// +optional
	PeerIP string `json:"peerIP,omitempty"`
	// Type is NodeMesh, NodePeer or GlobalPeer.
	// +optional
	Type string `json:"type,omitempty"`
	// State is the BGP session state, e.g. Established.
	// +optional
	State string `json:"state,omitempty"`
	// Since is when the session entered State.
	// +optional
	Since string `json:"since,omitempty"`
}

// CalicoNodeBGPRouteStatus lists routes BIRD knows.
type CalicoNodeBGPRouteStatus struct {
	// +listType=atomic
	// +optional
	RoutesV4 []CalicoNodeRoute `json:"routesV4,omitempty"`
	// +listType=atomic
	// +optional
	RoutesV6 []CalicoNodeRoute `json:"routesV6,omitempty"`
}

// CalicoNodeRoute is one route.
type CalicoNodeRoute struct {
	// Type is FIB or RIB.
	// +optional
	Type string `json:"type,omitempty"`
	// +optional
	Destination string `json:"destination,omitempty"`
	// +optional
	Gateway string `json:"gateway,omitempty"`
	// +optional
	Interface string `json:"interface,omitempty"`
	// +optional
	LearnedFrom CalicoNodeRouteLearnedFrom `json:"learnedFrom,omitempty"`
}

// CalicoNodeRouteLearnedFrom says where a route came from.
type CalicoNodeRouteLearnedFrom struct {
	// SourceType is Kernel, Static, Direct, NodeMesh, BGPPeer, ...
	// +optional
	SourceType string `json:"sourceType,omitempty"`
	// +optional
	PeerIP string `json:"peerIP,omitempty"`
}

// CalicoNodeStatusList is a list of CalicoNodeStatuses.
// +kubebuilder:object:root=true
type CalicoNodeStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []CalicoNodeStatus `json:"items"`
}
