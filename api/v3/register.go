package v3

import (
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	// GroupName is the API group of every kind in this package.
	GroupName = "projectcalico.org"
	// Version is the API version of every kind in this package.
	Version = "v3"
	// GroupVersionString is the apiVersion written in manifests.
	GroupVersionString = GroupName + "/" + Version
)

// SchemeGroupVersion is the group and version of this package's kinds.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: Version}

var (
	// SchemeBuilder registers this package's kinds in a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds this package's kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Resource qualifies a resource name with this package's group.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(s *runtime.Scheme) error {
	for _, k := range kinds {
		s.AddKnownTypes(SchemeGroupVersion, k.New(), k.NewList())
	}
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

// Object is a single projectcalico.org/v3 resource.
// +kubebuilder:object:generate=false
type Object interface {
	metav1.Object
	runtime.Object
}

// ListObject is a list of projectcalico.org/v3 resources.
// +kubebuilder:object:generate=false
type ListObject interface {
	metav1.ListInterface
	runtime.Object
}

// KindInfo describes one kind: its names, its scope and how to make an empty
// object or list with TypeMeta filled in.
// +kubebuilder:object:generate=false
type KindInfo struct {
	// Kind is the kind's name, e.g. "GlobalNetworkPolicy".
	Kind string
	// Plural and Singular are the lower-case resource names.
	Plural   string
	Singular string
	// Namespaced is true for namespace-scoped kinds.
	Namespaced bool
	// Stored is true for kinds backed by a CRD. Profile, WorkloadEndpoint and
	// Node are synthesised from Kubernetes objects and never stored.
	Stored bool
	// Aliases are the names calicoctl accepts for the kind, lower-case; they
	// include Singular and Plural.
	Aliases []string
	// ShortNames are the CRD's kubectl short names.
	ShortNames []string

	newObj  func() Object
	newList func() ListObject
}

// New returns an empty object of the kind with apiVersion and kind set.
func (k KindInfo) New() Object {
	o := k.newObj()
	o.GetObjectKind().SetGroupVersionKind(k.GroupVersionKind())
	return o
}

// NewList returns an empty list of the kind with apiVersion and kind set.
func (k KindInfo) NewList() ListObject {
	l := k.newList()
	l.GetObjectKind().SetGroupVersionKind(SchemeGroupVersion.WithKind(k.Kind + "List"))
	return l
}

// GroupVersionKind returns projectcalico.org/v3 and the kind.
func (k KindInfo) GroupVersionKind() schema.GroupVersionKind {
	return SchemeGroupVersion.WithKind(k.Kind)
}

// GroupVersionResource returns projectcalico.org/v3 and the plural resource.
func (k KindInfo) GroupVersionResource() schema.GroupVersionResource {
	return SchemeGroupVersion.WithResource(k.Plural)
}

// CRDName returns the name of the kind's CustomResourceDefinition.
func (k KindInfo) CRDName() string { return k.Plural + "." + GroupName }

var kinds = []KindInfo{
	{Kind: "Tier", Plural: "tiers", Singular: "tier", Stored: true,
		Aliases: []string{"tier", "tiers"},
		newObj:  func() Object { return &Tier{} }, newList: func() ListObject { return &TierList{} }},
	{Kind: "NetworkPolicy", Plural: "networkpolicies", Singular: "networkpolicy", Namespaced: true, Stored: true,
		Aliases:    []string{"networkpolicy", "networkpolicies", "policy", "policies", "np", "nps", "pol", "pols"},
		ShortNames: []string{"cnp", "caliconetworkpolicy"},
		newObj:     func() Object { return &NetworkPolicy{} }, newList: func() ListObject { return &NetworkPolicyList{} }},
	{Kind: "GlobalNetworkPolicy", Plural: "globalnetworkpolicies", Singular: "globalnetworkpolicy", Stored: true,
		Aliases:    []string{"globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps"},
		ShortNames: []string{"gnp", "cgnp"},
		newObj:     func() Object { return &GlobalNetworkPolicy{} }, newList: func() ListObject { return &GlobalNetworkPolicyList{} }},
	{Kind: "StagedNetworkPolicy", Plural: "stagednetworkpolicies", Singular: "stagednetworkpolicy", Namespaced: true, Stored: true,
		Aliases:    []string{"stagednetworkpolicy", "stagednetworkpolicies", "stagedpolicy", "stagedpolicies", "snp", "snps", "spol", "spols"},
		ShortNames: []string{"snp"},
		newObj:     func() Object { return &StagedNetworkPolicy{} }, newList: func() ListObject { return &StagedNetworkPolicyList{} }},
	{Kind: "StagedGlobalNetworkPolicy", Plural: "stagedglobalnetworkpolicies", Singular: "stagedglobalnetworkpolicy", Stored: true,
		Aliases:    []string{"stagedglobalnetworkpolicy", "stagedglobalnetworkpolicies", "sgnp", "sgnps"},
		ShortNames: []string{"sgnp"},
		newObj:     func() Object { return &StagedGlobalNetworkPolicy{} }, newList: func() ListObject { return &StagedGlobalNetworkPolicyList{} }},
	{Kind: "StagedKubernetesNetworkPolicy", Plural: "stagedkubernetesnetworkpolicies", Singular: "stagedkubernetesnetworkpolicy", Namespaced: true, Stored: true,
		Aliases:    []string{"stagedkubernetesnetworkpolicy", "stagedkubernetesnetworkpolicies", "stagedkubernetespolicy", "stagedkubernetespolicies", "sknp", "sknps", "skpol", "skpols"},
		ShortNames: []string{"sknp"},
		newObj:     func() Object { return &StagedKubernetesNetworkPolicy{} }, newList: func() ListObject { return &StagedKubernetesNetworkPolicyList{} }},
	{Kind: "NetworkSet", Plural: "networksets", Singular: "networkset", Namespaced: true, Stored: true,
		Aliases:    []string{"networkset", "networksets", "netset", "netsets"},
		ShortNames: []string{"netset", "netsets"},
		newObj:     func() Object { return &NetworkSet{} }, newList: func() ListObject { return &NetworkSetList{} }},
	{Kind: "GlobalNetworkSet", Plural: "globalnetworksets", Singular: "globalnetworkset", Stored: true,
		Aliases:    []string{"globalnetworkset", "globalnetworksets", "gns", "gnetset", "gnetsets"},
		ShortNames: []string{"gns", "gnetset", "gnetsets"},
		newObj:     func() Object { return &GlobalNetworkSet{} }, newList: func() ListObject { return &GlobalNetworkSetList{} }},
	{Kind: "HostEndpoint", Plural: "hostendpoints", Singular: "hostendpoint", Stored: true,
		Aliases:    []string{"hostendpoint", "hostendpoints", "hep", "heps"},
		ShortNames: []string{"hep", "heps"},
		newObj:     func() Object { return &HostEndpoint{} }, newList: func() ListObject { return &HostEndpointList{} }},
	{Kind: "IPPool", Plural: "ippools", Singular: "ippool", Stored: true,
		Aliases: []string{"ippool", "ippools", "ipp", "ipps", "pool", "pools"},
		newObj:  func() Object { return &IPPool{} }, newList: func() ListObject { return &IPPoolList{} }},
	{Kind: "IPReservation", Plural: "ipreservations", Singular: "ipreservation", Stored: true,
		Aliases: []string{"ipreservation", "ipreservations", "reservation", "reservations"},
		newObj:  func() Object { return &IPReservation{} }, newList: func() ListObject { return &IPReservationList{} }},
	{Kind: "BGPConfiguration", Plural: "bgpconfigurations", Singular: "bgpconfiguration", Stored: true,
		Aliases:    []string{"bgpconfiguration", "bgpconfigurations", "bgpconfig", "bgpconfigs"},
		ShortNames: []string{"bgpconfig", "bgpconfigs"},
		newObj:     func() Object { return &BGPConfiguration{} }, newList: func() ListObject { return &BGPConfigurationList{} }},
	{Kind: "BGPPeer", Plural: "bgppeers", Singular: "bgppeer", Stored: true,
		Aliases: []string{"bgppeer", "bgppeers", "bgpp", "bgpps", "bp", "bps"},
		newObj:  func() Object { return &BGPPeer{} }, newList: func() ListObject { return &BGPPeerList{} }},
	{Kind: "BGPFilter", Plural: "bgpfilters", Singular: "bgpfilter", Stored: true,
		Aliases: []string{"bgpfilter", "bgpfilters", "bgpf", "bgpfs", "bf", "bfs"},
		newObj:  func() Object { return &BGPFilter{} }, newList: func() ListObject { return &BGPFilterList{} }},
	{Kind: "FelixConfiguration", Plural: "felixconfigurations", Singular: "felixconfiguration", Stored: true,
		Aliases:    []string{"felixconfiguration", "felixconfigurations", "felixconfig", "felixconfigs"},
		ShortNames: []string{"felixconfig", "felixconfigs"},
		newObj:     func() Object { return &FelixConfiguration{} }, newList: func() ListObject { return &FelixConfigurationList{} }},
	{Kind: "KubeControllersConfiguration", Plural: "kubecontrollersconfigurations", Singular: "kubecontrollersconfiguration", Stored: true,
		Aliases:    []string{"kubecontrollersconfiguration", "kubecontrollersconfigurations", "kubecontrollersconfig", "kubecontrollersconfigs"},
		ShortNames: []string{"kcc", "kccs"},
		newObj:     func() Object { return &KubeControllersConfiguration{} }, newList: func() ListObject { return &KubeControllersConfigurationList{} }},
	{Kind: "ClusterInformation", Plural: "clusterinformations", Singular: "clusterinformation", Stored: true,
		Aliases:    []string{"clusterinformation", "clusterinformations", "clusterinfo", "clusterinfos"},
		ShortNames: []string{"clusterinfo"},
		newObj:     func() Object { return &ClusterInformation{} }, newList: func() ListObject { return &ClusterInformationList{} }},
	{Kind: "CalicoNodeStatus", Plural: "caliconodestatuses", Singular: "caliconodestatus", Stored: true,
		Aliases: []string{"caliconodestatus", "caliconodestatuses", "nodestatus", "nodestatuses"},
		newObj:  func() Object { return &CalicoNodeStatus{} }, newList: func() ListObject { return &CalicoNodeStatusList{} }},
	{Kind: "IPAMConfiguration", Plural: "ipamconfigurations", Singular: "ipamconfiguration", Stored: true,
		Aliases:    []string{"ipamconfiguration", "ipamconfigurations", "ipamconfig", "ipamconfigs"},
		ShortNames: []string{"ipamconfig", "ipamconfigs"},
		newObj:     func() Object { return &IPAMConfiguration{} }, newList: func() ListObject { return &IPAMConfigurationList{} }},
	{Kind: "IPAMBlock", Plural: "ipamblocks", Singular: "ipamblock", Stored: true,
		Aliases: []string{"ipamblock", "ipamblocks"},
		newObj:  func() Object { return &IPAMBlock{} }, newList: func() ListObject { return &IPAMBlockList{} }},
	{Kind: "BlockAffinity", Plural: "blockaffinities", Singular: "blockaffinity", Stored: true,
		Aliases:    []string{"blockaffinity", "blockaffinities", "affinity", "affinities"},
		ShortNames: []string{"affinity", "affinities"},
		newObj:     func() Object { return &BlockAffinity{} }, newList: func() ListObject { return &BlockAffinityList{} }},
	{Kind: "IPAMHandle", Plural: "ipamhandles", Singular: "ipamhandle", Stored: true,
		Aliases: []string{"ipamhandle", "ipamhandles"},
		newObj:  func() Object { return &IPAMHandle{} }, newList: func() ListObject { return &IPAMHandleList{} }},
	{Kind: "Profile", Plural: "profiles", Singular: "profile",
		Aliases: []string{"profile", "profiles", "pro", "pros"},
		newObj:  func() Object { return &Profile{} }, newList: func() ListObject { return &ProfileList{} }},
	{Kind: "WorkloadEndpoint", Plural: "workloadendpoints", Singular: "workloadendpoint", Namespaced: true,
		Aliases: []string{"workloadendpoint", "workloadendpoints", "wep", "weps"},
		newObj:  func() Object { return &WorkloadEndpoint{} }, newList: func() ListObject { return &WorkloadEndpointList{} }},
	{Kind: "Node", Plural: "nodes", Singular: "node",
		Aliases: []string{"node", "nodes", "no", "nos"},
		newObj:  func() Object { return &Node{} }, newList: func() ListObject { return &NodeList{} }},
	{Kind: "GlobalThreatFeed", Plural: "globalthreatfeeds", Singular: "globalthreatfeed", Stored: true,
		Aliases: []string{"globalthreatfeed", "globalthreatfeeds", "threatfeed", "threatfeeds", "gtf"},
		newObj:  func() Object { return &GlobalThreatFeed{} }, newList: func() ListObject { return &GlobalThreatFeedList{} }},
	{Kind: "GlobalAlert", Plural: "globalalerts", Singular: "globalalert", Stored: true,
		Aliases: []string{"globalalert", "globalalerts", "alert", "alerts", "ga"},
		newObj:  func() Object { return &GlobalAlert{} }, newList: func() ListObject { return &GlobalAlertList{} }},
	{Kind: "GlobalAlertTemplate", Plural: "globalalerttemplates", Singular: "globalalerttemplate", Stored: true,
		Aliases: []string{"globalalerttemplate", "globalalerttemplates", "alerttemplate", "alerttemplates"},
		newObj:  func() Object { return &GlobalAlertTemplate{} }, newList: func() ListObject { return &GlobalAlertTemplateList{} }},
	{Kind: "AlertException", Plural: "alertexceptions", Singular: "alertexception", Stored: true,
		Aliases: []string{"alertexception", "alertexceptions"},
		newObj:  func() Object { return &AlertException{} }, newList: func() ListObject { return &AlertExceptionList{} }},
	{Kind: "SecurityEventWebhook", Plural: "securityeventwebhooks", Singular: "securityeventwebhook", Stored: true,
		Aliases: []string{"securityeventwebhook", "securityeventwebhooks"},
		newObj:  func() Object { return &SecurityEventWebhook{} }, newList: func() ListObject { return &SecurityEventWebhookList{} }},
	{Kind: "GlobalReportType", Plural: "globalreporttypes", Singular: "globalreporttype", Stored: true,
		Aliases: []string{"globalreporttype", "globalreporttypes", "reporttype", "reporttypes"},
		newObj:  func() Object { return &GlobalReportType{} }, newList: func() ListObject { return &GlobalReportTypeList{} }},
	{Kind: "GlobalReport", Plural: "globalreports", Singular: "globalreport", Stored: true,
		Aliases: []string{"globalreport", "globalreports", "report", "reports"},
		newObj:  func() Object { return &GlobalReport{} }, newList: func() ListObject { return &GlobalReportList{} }},
	{Kind: "PacketCapture", Plural: "packetcaptures", Singular: "packetcapture", Namespaced: true, Stored: true,
		Aliases: []string{"packetcapture", "packetcaptures", "pcap", "pcaps"},
		newObj:  func() Object { return &PacketCapture{} }, newList: func() ListObject { return &PacketCaptureList{} }},
}

// Kinds returns every kind of the package, stored or synthesised, in a stable
// order (policy kinds first).
func Kinds() []KindInfo {
	out := make([]KindInfo, len(kinds))
	copy(out, kinds)
	return out
}

// KindFor resolves a name the way calicoctl and kubectl users write it: the kind
// ("GlobalNetworkPolicy"), the plural or singular resource, a calicoctl alias
// ("gnp") or a CRD short name, in any case. "kind.group" forms such as
// "networkpolicies.projectcalico.org" are accepted too.
func KindFor(alias string) (KindInfo, bool) {
	a := strings.ToLower(strings.TrimSpace(alias))
	if name, group, ok := strings.Cut(a, "."); ok {
		if group != GroupName {
			return KindInfo{}, false
		}
		a = name
	}
	for _, k := range kinds {
		if strings.ToLower(k.Kind) == a || k.Plural == a || k.Singular == a {
			return k, true
		}
		for _, n := range k.Aliases {
			if n == a {
				return k, true
			}
		}
		for _, n := range k.ShortNames {
			if n == a {
				return k, true
			}
		}
	}
	return KindInfo{}, false
}

// KindOf returns the KindInfo for an object of this package.
func KindOf(obj runtime.Object) (KindInfo, bool) {
	t := reflect.TypeOf(obj)
	for _, k := range kinds {
		if reflect.TypeOf(k.newObj()) == t {
			return k, true
		}
	}
	return KindInfo{}, false
}
