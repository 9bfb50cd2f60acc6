package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BGPConfiguration holds BGP settings: "default" for the cluster, "node.<name>"
// for one node.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName={bgpconfig,bgpconfigs}
// +kubebuilder:printcolumn:name="ASNumber",type=integer,JSONPath=`.spec.asNumber`
// +kubebuilder:printcolumn:name="Mesh",type=boolean,JSONPath=`.spec.nodeToNodeMeshEnabled`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec BGPConfigurationSpec `json:"spec"`
}

// BGPConfigurationSpec is the specification of a BGPConfiguration.
//
// +kubebuilder:validation:XValidation:rule="!has(self.nodeMeshPassword) || !has(self.nodeToNodeMeshEnabled) || self.nodeToNodeMeshEnabled",message="nodeMeshPassword cannot be set when nodeToNodeMeshEnabled is false",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.nodeMeshMaxRestartTime) || !has(self.nodeToNodeMeshEnabled) || self.nodeToNodeMeshEnabled",message="nodeMeshMaxRestartTime cannot be set when nodeToNodeMeshEnabled is false",reason=FieldValueForbidden
type BGPConfigurationSpec struct {
	// LogSeverityScreen is BIRD's and confd's log level.
	// +kubebuilder:default=Info
	// +kubebuilder:validation:Pattern=`^(?i)(Trace|Debug|Info|Warning|Error|Fatal)?$`
	// +optional
	LogSeverityScreen string `json:"logSeverityScreen,omitempty"`

	// NodeToNodeMeshEnabled turns the full node-to-node BGP mesh on or off
	// (unset means on).
	// +optional
	NodeToNodeMeshEnabled *bool `json:"nodeToNodeMeshEnabled,omitempty"`

	// ASNumber is the default AS number of nodes (unset means 64512).
	// +optional
	ASNumber *ASNumber `json:"asNumber,omitempty"`

	// ServiceLoadBalancerIPs are the ranges of LoadBalancer IPs to advertise.
	// +listType=atomic
	// +optional
	ServiceLoadBalancerIPs []ServiceLoadBalancerIPBlock `json:"serviceLoadBalancerIPs,omitempty"`

	// ServiceExternalIPs are the ranges of Service external IPs to advertise.
	// +listType=atomic
	// +optional
	ServiceExternalIPs []ServiceExternalIPBlock `json:"serviceExternalIPs,omitempty"`

	// ServiceClusterIPs are the Service cluster IP ranges to advertise.
	// +listType=atomic
	// +optional
	ServiceClusterIPs []ServiceClusterIPBlock `json:"serviceClusterIPs,omitempty"`

	// ServiceLoadBalancerAggregation says whether LoadBalancer routes are
	// aggregated into the configured ranges or advertised one by one.
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +kubebuilder:default=Enabled
	// +optional
	ServiceLoadBalancerAggregation *string `json:"serviceLoadBalancerAggregation,omitempty"`

	// Communities names community values for use in PrefixAdvertisements.
	// +listType=atomic
	// +optional
	Communities []Community `json:"communities,omitempty"`

	// PrefixAdvertisements attaches communities to advertised prefixes.
	// +listType=atomic
	// +optional
	PrefixAdvertisements []PrefixAdvertisement `json:"prefixAdvertisements,omitempty"`

	// ListenPort is the port BIRD listens on (unset means 179).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	ListenPort uint16 `json:"listenPort,omitempty"`

	// NodeMeshPassword protects the node-to-node mesh sessions; only on the
	// default configuration, with the mesh enabled.
	// +optional
	NodeMeshPassword *BGPPassword `json:"nodeMeshPassword,omitempty"`

	// NodeMeshMaxRestartTime is the graceful-restart time of mesh sessions.
	// +optional
	NodeMeshMaxRestartTime *metav1.Duration `json:"nodeMeshMaxRestartTime,omitempty"`

	// BindMode NodeIP makes BIRD listen on the node's IP only; None on all
	// addresses.
	// +kubebuilder:validation:Enum=None;NodeIP
	// +optional
	BindMode *BindMode `json:"bindMode,omitempty"`

	// IgnoredInterfaces are interface name globs whose routes BIRD ignores.
	// +listType=atomic
	// +optional
	IgnoredInterfaces []string `json:"ignoredInterfaces,omitempty"`

	// LocalWorkloadPeeringIPV4 is the IPv4 address nodes use to peer with local
	// workloads.
	// +optional
	LocalWorkloadPeeringIPV4 string `json:"localWorkloadPeeringIPV4,omitempty"`

	// LocalWorkloadPeeringIPV6 is the IPv6 address nodes use to peer with local
	// workloads.
	// +optional
	LocalWorkloadPeeringIPV6 string `json:"localWorkloadPeeringIPV6,omitempty"`

	// ProgramClusterRoutes says whether BIRD programs routes to other nodes'
	// workloads, and for which kinds of pool.
	// +kubebuilder:validation:Enum=Enabled;Disabled;EnabledIPIPOnly;EnabledNoEncapOnly
	// +optional
	ProgramClusterRoutes *string `json:"programClusterRoutes,omitempty"`

	// IPv4NormalRoutePriority is the metric of IPv4 routes BIRD programs.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483646
	// +optional
	IPv4NormalRoutePriority *int `json:"ipv4NormalRoutePriority,omitempty"`

	// IPv6NormalRoutePriority is the metric of IPv6 routes BIRD programs.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483646
	// +optional
	IPv6NormalRoutePriority *int `json:"ipv6NormalRoutePriority,omitempty"`
}

// BindMode says which addresses BIRD listens on.
type BindMode string

const (
	BindModeNone   BindMode = "None"
	BindModeNodeIP BindMode = "NodeIP"
)

// ServiceLoadBalancerIPBlock is one range of LoadBalancer IPs.
type ServiceLoadBalancerIPBlock struct {
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CIDR string `json:"cidr,omitempty"`
}

// ServiceExternalIPBlock is one range of Service external IPs.
type ServiceExternalIPBlock struct {
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CIDR string `json:"cidr,omitempty"`
}

// ServiceClusterIPBlock is one Service cluster IP range.
type ServiceClusterIPBlock struct {
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CIDR string `json:"cidr,omitempty"`
}

// Community names a BGP community value.
type Community struct {
	// Name is how PrefixAdvertisements refer to the value.
	// +optional
	Name string `json:"name,omitempty"`
	// Value is a standard community "aa:nn" (16-bit parts) or a large community
	// "aa:nn:mm" (32-bit parts).
	// +kubebuilder:validation:Pattern=`^(\d+):(\d+)$|^(\d+):(\d+):(\d+)$`
	// +optional
	Value string `json:"value,omitempty"`
}

// PrefixAdvertisement attaches communities to one prefix.
type PrefixAdvertisement struct {
	// CIDR is the prefix.
	// +optional
	CIDR string `json:"cidr,omitempty"`
	// Communities are community names from Communities or literal values.
	// +listType=atomic
	// +optional
	Communities []string `json:"communities,omitempty"`
}

// BGPConfigurationList is a list of BGPConfigurations.
// +kubebuilder:object:root=true
type BGPConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []BGPConfiguration `json:"items"`
}
