package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IPAMConfiguration holds cluster-wide IPAM settings; the object is named
// "default".
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName={ipamconfig,ipamconfigs}
// +kubebuilder:printcolumn:name="StrictAffinity",type=boolean,JSONPath=`.spec.strictAffinity`
// +kubebuilder:printcolumn:name="MaxBlocksPerHost",type=integer,JSONPath=`.spec.maxBlocksPerHost`
// +kubebuilder:printcolumn:name="AutoAllocateBlocks",type=boolean,JSONPath=`.spec.autoAllocateBlocks`
type IPAMConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec IPAMConfigurationSpec `json:"spec"`
}

// IPAMConfigurationSpec is the specification of the IPAM configuration.
type IPAMConfigurationSpec struct {
	// StrictAffinity forbids borrowing addresses from blocks affine to other
	// nodes.
	// +kubebuilder:default=false
	StrictAffinity bool `json:"strictAffinity"`

	// MaxBlocksPerHost caps the blocks affine to one node; 0 means the default
	// of 20.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	MaxBlocksPerHost int32 `json:"maxBlocksPerHost,omitempty"`

	// AutoAllocateBlocks lets nodes claim new blocks as they need them.
	// [Default: true]
	// +kubebuilder:default=true
	// +optional
	AutoAllocateBlocks *bool `json:"autoAllocateBlocks,omitempty"`

	// KubeVirtVMAddressPersistence keeps a KubeVirt VM's addresses across pod
	// re-creation and live migration. [Default: Enabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +optional
	KubeVirtVMAddressPersistence *string `json:"kubeVirtVMAddressPersistence,omitempty"`

	// IPCooldownSeconds is how long a released address rests before it can be
	// handed out again. [Default: 0]
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1200
	// +optional
	IPCooldownSeconds *int32 `json:"ipCooldownSeconds,omitempty"`
}

// IPAMConfigurationList is a list of IPAMConfigurations.
// +kubebuilder:object:root=true
type IPAMConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []IPAMConfiguration `json:"items"`
}

// IPAMBlock is one block of an IP pool: the unit of allocation to nodes, of
// compare-and-swap updates and of route advertisement. It is owned by IPAM;
// users do not edit it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=`.spec.cidr`
// +kubebuilder:printcolumn:name="Affinity",type=string,JSONPath=`.spec.affinity`
type IPAMBlock struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec IPAMBlockSpec `json:"spec"`
}

// IPAMBlockSpec is the allocation state of a block.
type IPAMBlockSpec struct {
	// CIDR is the block's range.
	// +kubebuilder:validation:MaxLength=64
	CIDR string `json:"cidr"`

	// Affinity is "host:<node>" or "virtual:<name>"; unset means the block is not
	// affine to anything.
	// +kubebuilder:validation:Pattern=`^(host|virtual):[a-zA-Z0-9\.\-_]+$`
	// +optional
	Affinity *string `json:"affinity,omitempty"`

	// AffinityClaimTime is when the affinity was claimed.
	// +optional
	AffinityClaimTime *metav1.Time `json:"affinityClaimTime,omitempty"`

	// Allocations has one entry per address of the block, by ordinal: null when
	// free, otherwise an index into Attributes.
	Allocations []*int `json:"allocations"`

	// Unallocated is the queue of free ordinals: allocation takes from the head,
	// release appends to the tail.
	Unallocated []int `json:"unallocated"`

	// Attributes describe the owners of allocations.
	Attributes []AllocationAttribute `json:"attributes"`

	// SequenceNumber is incremented on every write of the block.
	// +kubebuilder:default=0
	// +optional
	SequenceNumber uint64 `json:"sequenceNumber"`

	// SequenceNumberForAllocation maps an ordinal (as a string) to the block's
	// sequence number when it was allocated, so that a stale release cannot free
	// a re-allocated address.
	// +optional
	SequenceNumberForAllocation map[string]uint64 `json:"sequenceNumberForAllocation"`

	// Deleted marks a block being deleted; clients treat it as absent.
	// +optional
	Deleted bool `json:"deleted"`

	// DeprecatedStrictAffinity is unused; see IPAMConfiguration.StrictAffinity.
	DeprecatedStrictAffinity bool `json:"strictAffinity"`
}

// AllocationAttribute describes who owns an allocation.
type AllocationAttribute struct {
	// HandleID groups the allocations of one owner, e.g.
	// "k8s-pod-network.<containerID>".
	// +optional
	HandleID *string `json:"handle_id,omitempty"`
	// ActiveOwnerAttrs describe the current owner (namespace, pod, node, type,
	// timestamp, ...).
	// +optional
	ActiveOwnerAttrs map[string]string `json:"secondary,omitempty"`
	// AlternateOwnerAttrs describe a second owner during VM live migration.
	// +optional
	AlternateOwnerAttrs map[string]string `json:"alternateOwnerAttrs,omitempty"`
	// ReleasedAt is when the allocation was released; the ordinal returns to the
	// free queue once the cooldown has passed.
	// +optional
	ReleasedAt *metav1.Time `json:"releasedAt,omitempty"`
}

// IPAMBlockList is a list of IPAMBlocks.
// +kubebuilder:object:root=true
type IPAMBlockList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []IPAMBlock `json:"items"`
}

// BlockAffinityState is the state of a node's claim on a block.
// +kubebuilder:validation:Enum="";confirmed;pending;pendingDeletion
type BlockAffinityState string

const (
	// StateConfirmed: the block is affine to the node.
	StateConfirmed BlockAffinityState = "confirmed"
	// StatePending: a claim is in progress; readers treat it as absent.
	StatePending BlockAffinityState = "pending"
	// StatePendingDeletion: the affinity is being released.
	StatePendingDeletion BlockAffinityState = "pendingDeletion"
)

// BlockAffinity records that a block is affine to a node (or a virtual owner).
// Claims are two-phase: pending, then confirmed.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName={affinity,affinities}
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=`.spec.cidr`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
type BlockAffinity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec BlockAffinitySpec `json:"spec"`
}

// BlockAffinitySpec is the specification of a BlockAffinity.
type BlockAffinitySpec struct {
	// State is pending, confirmed or pendingDeletion.
	State BlockAffinityState `json:"state"`
	// Node is the node (or virtual owner) the block is affine to.
	Node string `json:"node"`
	// Type is "host" or "virtual".
	// +optional
	Type string `json:"type,omitempty"`
	// CIDR is the block's range.
	// +kubebuilder:validation:MaxLength=64
	CIDR string `json:"cidr"`
	// Deleted marks an affinity being deleted; clients treat it as absent.
	// +kubebuilder:default=false
	Deleted bool `json:"deleted"`
}

// BlockAffinityList is a list of BlockAffinities.
// +kubebuilder:object:root=true
type BlockAffinityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []BlockAffinity `json:"items"`
}

// IPAMHandle indexes the allocations of one owner: block CIDR to the number of
// addresses the handle holds there, so release by handle is cheap.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="HandleID",type=string,JSONPath=`.spec.handleID`
type IPAMHandle struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec IPAMHandleSpec `json:"spec"`
}

// IPAMHandleSpec is the specification of an IPAMHandle.
type IPAMHandleSpec struct {
	// HandleID is the handle, e.g. "k8s-pod-network.<containerID>".
	HandleID string `json:"handleID"`
	// Block maps block CIDRs to the number of addresses held in each.
	Block map[string]int `json:"block"`
	// Deleted marks a handle being deleted; clients treat it as absent.
	// +optional
	Deleted bool `json:"deleted"`
}

// IPAMHandleList is a list of IPAMHandles.
// +kubebuilder:object:root=true
type IPAMHandleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []IPAMHandle `json:"items"`
}
