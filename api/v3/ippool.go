package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IPPool is a range of addresses Calico IPAM hands out, carved into blocks that
// are assigned to nodes. It also decides encapsulation and outgoing NAT for
// traffic from its addresses.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=`.spec.cidr`
// +kubebuilder:printcolumn:name="BlockSize",type=integer,JSONPath=`.spec.blockSize`
// +kubebuilder:printcolumn:name="IPIP",type=string,JSONPath=`.spec.ipipMode`
// +kubebuilder:printcolumn:name="VXLAN",type=string,JSONPath=`.spec.vxlanMode`
// +kubebuilder:printcolumn:name="NAT",type=boolean,JSONPath=`.spec.natOutgoing`
// +kubebuilder:printcolumn:name="Disabled",type=boolean,JSONPath=`.spec.disabled`
// +kubebuilder:printcolumn:name="NodeSelector",type=string,JSONPath=`.spec.nodeSelector`,priority=1
type IPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec IPPoolSpec `json:"spec"`
	// +optional
	Status *IPPoolStatus `json:"status,omitempty"`
}

// IPPoolSpec is the specification of an IPPool.
//
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.cidr) || cidr(self.cidr).ip().family() != 4 || !has(self.blockSize) || (self.blockSize >= 20 && self.blockSize <= 32)",message="an IPv4 pool's blockSize must be 20-32",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.cidr) || cidr(self.cidr).ip().family() != 6 || !has(self.blockSize) || (self.blockSize >= 116 && self.blockSize <= 128)",message="an IPv6 pool's blockSize must be 116-128",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.cidr) || !has(self.blockSize) || (has(self.disabled) && self.disabled) || cidr(self.cidr).prefixLength() <= self.blockSize",message="the pool's cidr must be at least as large as one block (prefix length <= blockSize) unless the pool is disabled",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.ipipMode) || self.ipipMode == 'Never' || !has(self.vxlanMode) || self.vxlanMode == 'Never'",message="ipipMode and vxlanMode cannot both be enabled",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.cidr) || cidr(self.cidr).ip().family() != 6 || !has(self.ipipMode) || self.ipipMode == 'Never'",message="IPIP is not supported on IPv6 pools; set ipipMode Never",reason=FieldValueForbidden
type IPPoolSpec struct {
	// CIDR is the pool's address range, e.g. 192.168.0.0/16.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidr must be an address range in CIDR notation, e.g. 10.244.0.0/16",reason=FieldValueInvalid
	// +kubebuilder:validation:XValidation:rule="self == oldSelf || (isCIDR(self) && isCIDR(oldSelf) && cidr(self).masked() == cidr(oldSelf).masked())",message="cidr cannot be changed; create a new pool instead",reason=FieldValueForbidden
	CIDR string `json:"cidr"`

	// VXLANMode says when traffic to this pool's addresses is VXLAN-encapsulated.
	// +optional
	VXLANMode EncapMode `json:"vxlanMode,omitempty"`

	// IPIPMode says when traffic to this pool's addresses is IP-in-IP
	// encapsulated.
	// +optional
	IPIPMode EncapMode `json:"ipipMode,omitempty"`

	// NATOutgoing masquerades traffic from the pool to destinations outside all
	// pools.
	// +optional
	NATOutgoing bool `json:"natOutgoing,omitempty"`

	// Disabled stops IPAM from handing out new addresses from the pool.
	// +optional
	Disabled bool `json:"disabled,omitempty"`

	// DisableBGPExport stops the pool's routes from being advertised over BGP.
	// +optional
	DisableBGPExport bool `json:"disableBGPExport,omitempty"`

	// BlockSize is the prefix length of the blocks the pool is carved into:
	// 20-32 for IPv4 (default 26), 116-128 for IPv6 (default 122).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +optional
	BlockSize int `json:"blockSize,omitempty"`

	// NodeSelector picks the nodes that may take blocks from the pool.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	NodeSelector string `json:"nodeSelector,omitempty"`

	// NamespaceSelector picks the namespaces whose pods may use the pool; both it
	// and NodeSelector must match.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	NamespaceSelector string `json:"namespaceSelector,omitempty"`

	// AllowedUses says what the pool's addresses may be used for; defaults to
	// [Workload, Tunnel].
	// +listType=set
	// +optional
	AllowedUses []IPPoolAllowedUse `json:"allowedUses,omitempty"`

	// AssignmentMode Automatic lets IPAM pick from the pool; Manual only hands out
	// its addresses when asked for the pool explicitly.
	// +kubebuilder:default=Automatic
	// +optional
	AssignmentMode *AssignmentMode `json:"assignmentMode,omitempty"`
}

// EncapMode says when traffic is encapsulated.
// +kubebuilder:validation:Enum=Never;Always;CrossSubnet
type EncapMode string

const (
	EncapNever       EncapMode = "Never"
	EncapAlways      EncapMode = "Always"
	EncapCrossSubnet EncapMode = "CrossSubnet"
)

// IPPoolAllowedUse is one use an IP pool may be put to.
// +kubebuilder:validation:Enum=Workload;Tunnel;LoadBalancer
type IPPoolAllowedUse string

const (
	IPPoolAllowedUseWorkload     IPPoolAllowedUse = "Workload"
	IPPoolAllowedUseTunnel       IPPoolAllowedUse = "Tunnel"
	IPPoolAllowedUseLoadBalancer IPPoolAllowedUse = "LoadBalancer"
)

// AssignmentMode says whether IPAM may choose a pool by itself.
// +kubebuilder:validation:Enum=Automatic;Manual
type AssignmentMode string

const (
	AssignmentModeAutomatic AssignmentMode = "Automatic"
	AssignmentModeManual    AssignmentMode = "Manual"
)

// IPPoolStatus reports the pool's conditions.
type IPPoolStatus struct {
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IPPoolList is a list of IPPools.
// +kubebuilder:object:root=true
type IPPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []IPPool `json:"items"`
}
