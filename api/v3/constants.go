package v3

// Labels that Calico adds to the objects it derives, and that policy selectors may
// match on.
const (
	// LabelNamespace carries the namespace of a workload endpoint or network set.
	LabelNamespace = "projectcalico.org/namespace"
	// LabelServiceAccount carries the service account a pod runs as (omitted when
	// the name would not be a valid label value).
	LabelServiceAccount = "projectcalico.org/serviceaccount"
	// LabelOrchestrator names the orchestrator that owns a workload endpoint.
	LabelOrchestrator = "projectcalico.org/orchestrator"
	// LabelTier carries the tier of a policy.
	LabelTier = "projectcalico.org/tier"
	// LabelName is added to namespace and service-account profile labels so that
	// a selector can match an exact name.
	LabelName = "projectcalico.org/name"

	// OrchestratorKubernetes is the LabelOrchestrator value of pods.
	OrchestratorKubernetes = "k8s"
)

// Pod annotations written by the CNI plugin and read by the datastore when it
// turns a Pod into a WorkloadEndpoint, plus the IPAM request annotations users set.
const (
	AnnotationPodIP       = "cni.projectcalico.org/podIP"
	AnnotationPodIPs      = "cni.projectcalico.org/podIPs"
	AnnotationContainerID = "cni.projectcalico.org/containerID"
	AnnotationIPv4Pools   = "cni.projectcalico.org/ipv4pools"
	AnnotationIPv6Pools   = "cni.projectcalico.org/ipv6pools"
	AnnotationIPAddrs     = "cni.projectcalico.org/ipAddrs"
)

// Prefixes of synthesised names and labels.
const (
	// NamespaceLabelPrefix prefixes namespace labels when they are attached to the
	// namespace profile, so that a GlobalNetworkPolicy namespaceSelector can be
	// evaluated against endpoints.
	NamespaceLabelPrefix = "pcns."
	// ServiceAccountLabelPrefix does the same for service-account labels.
	ServiceAccountLabelPrefix = "pcsa."
	// NamespaceProfilePrefix prefixes the name of the profile synthesised for a
	// Namespace: "kns.<namespace>".
	NamespaceProfilePrefix = "kns."
	// ServiceAccountProfilePrefix prefixes the name of the profile synthesised for
	// a ServiceAccount: "ksa.<namespace>.<serviceaccount>".
	ServiceAccountProfilePrefix = "ksa."
	// DefaultAllowProfile is the built-in profile that allows everything; auto
	// host endpoints carry it.
	DefaultAllowProfile = "projectcalico-default-allow"
)

// Built-in tiers. They always exist; their order and default action are fixed.
const (
	DefaultTierName      = "default"
	KubeAdminTierName    = "kube-admin"
	KubeBaselineTierName = "kube-baseline"

	DefaultTierOrder      = float64(1_000_000)
	KubeAdminTierOrder    = float64(1_000)
	KubeBaselineTierOrder = float64(10_000_000)

	// KubernetesNetworkPolicyOrder is the order that Kubernetes NetworkPolicies
	// receive when they are converted into Calico policies in the default tier.
	KubernetesNetworkPolicyOrder = float64(1000)
)

// BuiltinTier describes one of the tiers Calico creates itself.
// +kubebuilder:object:generate=false
type BuiltinTier struct {
	Name          string
	Order         float64
	DefaultAction Action
}

// BuiltinTiers lists the built-in tiers in evaluation order.
func BuiltinTiers() []BuiltinTier {
	return []BuiltinTier{
		{Name: KubeAdminTierName, Order: KubeAdminTierOrder, DefaultAction: Pass},
		{Name: DefaultTierName, Order: DefaultTierOrder, DefaultAction: Deny},
		{Name: KubeBaselineTierName, Order: KubeBaselineTierOrder, DefaultAction: Pass},
	}
}

// BuiltinTierFor returns the built-in tier with the given name.
func BuiltinTierFor(name string) (BuiltinTier, bool) {
	for _, t := range BuiltinTiers() {
		if t.Name == name {
			return t, true
		}
	}
	return BuiltinTier{}, false
}

// Well-known object names.
const (
	// DefaultConfigName is the name of the global FelixConfiguration,
	// BGPConfiguration, KubeControllersConfiguration, IPAMConfiguration and
	// ClusterInformation.
	DefaultConfigName = "default"
	// NodeConfigPrefix prefixes per-node FelixConfiguration and BGPConfiguration
	// names: "node.<nodename>".
	NodeConfigPrefix = "node."
	// TierFinalizer blocks deletion of a tier while policies still reference it.
	TierFinalizer = "projectcalico.org/tier-controller"
)

// Values for the many Enabled/Disabled switches.
const (
	Enabled  = "Enabled"
	Disabled = "Disabled"
)
