package v3

import (
	"maps"
	"net/netip"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Default block sizes of IP pools, by address family.
const (
	DefaultIPv4BlockSize = 26
	DefaultIPv6BlockSize = 122
)

// Default fills in the values Calico stores when a field is left empty, and puts
// values Calico normalises on write into their canonical form. Every writer (the
// CLI, the admission webhook) calls it, through DefaultForWrite, before
// validating, and readers call it on objects that may have been stored without
// defaults. It is idempotent, touches only this package's types (lists item by
// item) and ignores anything else.
//
// What it sets:
//   - all kinds: apiVersion and kind, when empty;
//   - NetworkPolicy, GlobalNetworkPolicy and their staged forms: tier "default";
//     types derived from the rules (egress rules only: [Egress]; otherwise
//     [Ingress], plus Egress when there are egress rules); staged kinds:
//     stagedAction Set;
//   - StagedKubernetesNetworkPolicy: stagedAction Set; policyTypes as Kubernetes
//     defaults them ([Ingress], plus Egress when there are egress rules);
//   - Tier: defaultAction Deny, or Pass for kube-admin and kube-baseline; the
//     order of a built-in tier when unset;
//   - IPPool: cidr masked to its network address in canonical form; blockSize 26
//     or 122 by family; ipipMode and vxlanMode Never; allowedUses [Workload,
//     Tunnel]; assignmentMode Automatic; nodeSelector all();
//   - the values the CRD schemas default (BGPConfiguration logSeverityScreen and
//     serviceLoadBalancerAggregation, FelixConfiguration nftablesMode,
//     KubeControllersConfiguration healthChecks and controller settings,
//     IPAMConfiguration autoAllocateBlocks, GlobalThreatFeed content IPSet and
//     mode Enabled, GlobalAlert and GlobalAlertTemplate type RuleBased), so
//     that an object defaulted here is what the API server would store.
func Default(obj runtime.Object) {
	defaultTypeMeta(obj)
	switch o := obj.(type) {
	case *NetworkPolicy:
		defaultPolicy(&o.Spec.Tier, &o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
	case *GlobalNetworkPolicy:
		defaultPolicy(&o.Spec.Tier, &o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
	case *StagedNetworkPolicy:
		defaultStagedAction(&o.Spec.StagedAction)
		defaultPolicy(&o.Spec.Tier, &o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
	case *StagedGlobalNetworkPolicy:
		defaultStagedAction(&o.Spec.StagedAction)
		defaultPolicy(&o.Spec.Tier, &o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
	case *StagedKubernetesNetworkPolicy:
		defaultStagedAction(&o.Spec.StagedAction)
		if len(o.Spec.PolicyTypes) == 0 {
			o.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if len(o.Spec.Egress) > 0 {
				o.Spec.PolicyTypes = append(o.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
			}
		}
	case *Tier:
		defaultTier(o)
	case *IPPool:
		defaultIPPool(&o.Spec)
	case *BGPConfiguration:
		if o.Spec.LogSeverityScreen == "" {
			o.Spec.LogSeverityScreen = "Info"
		}
		if o.Spec.ServiceLoadBalancerAggregation == nil {
			s := Enabled
			o.Spec.ServiceLoadBalancerAggregation = &s
		}
	case *FelixConfiguration:
		if o.Spec.NFTablesMode == nil {
			m := NFTablesModeAuto
			o.Spec.NFTablesMode = &m
		}
	case *KubeControllersConfiguration:
		defaultKubeControllers(&o.Spec)
		if o.Status.RunningConfig != nil {
			defaultKubeControllers(o.Status.RunningConfig)
		}
	case *IPAMConfiguration:
		if o.Spec.AutoAllocateBlocks == nil {
			t := true
			o.Spec.AutoAllocateBlocks = &t
		}
	case *GlobalThreatFeed:
		if o.Spec.Content == "" {
			o.Spec.Content = ThreatFeedContentIPSet
		}
		if o.Spec.Mode == "" {
			o.Spec.Mode = ThreatFeedModeEnabled
		}
	case *GlobalAlert:
		if o.Spec.Type == "" {
			o.Spec.Type = "RuleBased"
		}
	case *GlobalAlertTemplate:
		if o.Spec.Type == "" {
			o.Spec.Type = "RuleBased"
		}
	default:
		defaultListItems(obj)
	}
}

func defaultTypeMeta(obj runtime.Object) {
	k, ok := KindOf(obj)
	if !ok {
		return
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" && gvk.Version == "" {
		obj.GetObjectKind().SetGroupVersionKind(k.GroupVersionKind())
	}
}

func defaultListItems(obj runtime.Object) {
	switch l := obj.(type) {
	case *TierList:
		each(l.Items, Default)
	case *NetworkPolicyList:
		each(l.Items, Default)
	case *GlobalNetworkPolicyList:
		each(l.Items, Default)
	case *StagedNetworkPolicyList:
		each(l.Items, Default)
	case *StagedGlobalNetworkPolicyList:
		each(l.Items, Default)
	case *StagedKubernetesNetworkPolicyList:
		each(l.Items, Default)
	case *IPPoolList:
		each(l.Items, Default)
	case *BGPConfigurationList:
		each(l.Items, Default)
	case *FelixConfigurationList:
		each(l.Items, Default)
	case *KubeControllersConfigurationList:
		each(l.Items, Default)
	case *IPAMConfigurationList:
		each(l.Items, Default)
	case *GlobalThreatFeedList:
		each(l.Items, Default)
	case *GlobalAlertList:
		each(l.Items, Default)
	case *GlobalAlertTemplateList:
		each(l.Items, Default)
	}
}

// each applies f to a pointer to every element of items, whose pointer type
// implements runtime.Object.
func each[T any, PT interface {
	*T
	runtime.Object
}](items []T, f func(runtime.Object)) {
	for i := range items {
		f(PT(&items[i]))
	}
}

func defaultStagedAction(a *StagedAction) {
	if *a == "" {
		*a = StagedActionSet
	}
}

// defaultPolicy sets the tier and derives the policy types from the rules.
func defaultPolicy(tier *string, types *[]PolicyType, ingress, egress []Rule) {
	if *tier == "" {
		*tier = DefaultTierName
	}
	if len(*types) == 0 {
		*types = DefaultPolicyTypes(ingress, egress)
	}
}

// DefaultPolicyTypes returns the types Calico gives a policy written without
// any: [Egress] if it has egress rules and no ingress rules, otherwise [Ingress]
// plus Egress when it has egress rules.
func DefaultPolicyTypes(ingress, egress []Rule) []PolicyType {
	switch {
	case len(egress) == 0:
		return []PolicyType{PolicyTypeIngress}
	case len(ingress) == 0:
		return []PolicyType{PolicyTypeEgress}
	default:
		return []PolicyType{PolicyTypeIngress, PolicyTypeEgress}
	}
}

func defaultTier(t *Tier) {
	b, builtin := BuiltinTierFor(t.Name)
	if t.Spec.DefaultAction == "" {
		t.Spec.DefaultAction = Deny
		if builtin {
			t.Spec.DefaultAction = b.DefaultAction
		}
	}
	if builtin && t.Spec.Order == nil {
		o := b.Order
		t.Spec.Order = &o
	}
}

func defaultIPPool(s *IPPoolSpec) {
	if p, err := netip.ParsePrefix(s.CIDR); err == nil {
		p = p.Masked()
		s.CIDR = p.String()
		if s.BlockSize == 0 {
			s.BlockSize = DefaultIPv4BlockSize
			if p.Addr().Is6() {
				s.BlockSize = DefaultIPv6BlockSize
			}
		}
	}
	if s.IPIPMode == "" {
		s.IPIPMode = EncapNever
	}
	if s.VXLANMode == "" {
		s.VXLANMode = EncapNever
	}
	if len(s.AllowedUses) == 0 {
		s.AllowedUses = []IPPoolAllowedUse{IPPoolAllowedUseWorkload, IPPoolAllowedUseTunnel}
	}
	if s.AssignmentMode == nil {
		m := AssignmentModeAutomatic
		s.AssignmentMode = &m
	}
	if s.NodeSelector == "" {
		s.NodeSelector = "all()"
	}
}

func defaultKubeControllers(s *KubeControllersConfigurationSpec) {
	if s.HealthChecks == "" {
		s.HealthChecks = Enabled
	}
	if lb := s.Controllers.LoadBalancer; lb != nil && lb.AssignIPs == "" {
		lb.AssignIPs = AllServices
	}
	if m := s.Controllers.Migration; m != nil && m.PolicyNameMigrator == "" {
		m.PolicyNameMigrator = Enabled
	}
}

// Client-side defaults of calico-kube-controllers' configuration.
const (
	DefaultKubeControllersMetricsPort = 9094
	DefaultLeakGracePeriod            = 15 * time.Minute
)

// DefaultForWrite is Default plus what Calico's writers store on every create
// and update and readers must not assume of an object already stored. old is
// the stored object an update replaces (nil for a create). Every writer (the
// CLI, the admission webhook) calls it before validating with ValidateWrite.
// It is idempotent.
//
// What it sets, beyond Default:
//   - NetworkPolicy, GlobalNetworkPolicy and their staged forms (not
//     StagedKubernetesNetworkPolicy, which has no tier): the label
//     projectcalico.org/tier, to the policy's tier, when it is missing. Calico
//     lists, and authorises lists, by this label. When an update leaves the
//     label at its stored value (the writer did not touch it, as a patch of
//     spec.tier does not), it follows spec.tier. A label the write itself sets
//     is kept, and validation refuses it unless it names the policy's tier.
//   - FelixConfiguration (every object, as Calico's client): floatingIPs
//     Disabled, bpfConnectTimeLoadBalancing TCP, bpfHostNetworkedNATWithoutCTLB
//     Enabled; the deprecated bpfConnectTimeLoadBalancingEnabled, when set,
//     overrides the other two: bpfConnectTimeLoadBalancing Enabled or Disabled
//     as it says, and bpfHostNetworkedNATWithoutCTLB Disabled.
//   - KubeControllersConfiguration: prometheusMetricsPort 9094; and, when the
//     node controller is configured, its leakGracePeriod 15m.
//
// Readers must not fill these in: the tier label is what clients (Calico's
// own included) list and select by, as stored; a node.<name>
// FelixConfiguration stored without floatingIPs would read as Disabled and
// override the default object's value, and calico-node compares the
// configuration it started with (read as stored) with what its syncer
// (which defaults) delivers.
func DefaultForWrite(obj, old runtime.Object) {
	Default(obj)
	switch o := obj.(type) {
	case *NetworkPolicy, *GlobalNetworkPolicy, *StagedNetworkPolicy, *StagedGlobalNetworkPolicy:
		tier, _ := PolicyTier(obj)
		oldMeta, _ := old.(metav1.Object)
		defaultTierLabel(o.(metav1.Object), oldMeta, tier)
	case *FelixConfiguration:
		defaultFelixForWrite(&o.Spec)
	case *KubeControllersConfiguration:
		defaultKubeControllersForWrite(&o.Spec)
	case *NetworkPolicyList:
		each(o.Items, forWrite)
	case *GlobalNetworkPolicyList:
		each(o.Items, forWrite)
	case *StagedNetworkPolicyList:
		each(o.Items, forWrite)
	case *StagedGlobalNetworkPolicyList:
		each(o.Items, forWrite)
	case *FelixConfigurationList:
		each(o.Items, forWrite)
	case *KubeControllersConfigurationList:
		each(o.Items, forWrite)
	}
}

func forWrite(obj runtime.Object) { DefaultForWrite(obj, nil) }

// PolicyTier returns the tier of a NetworkPolicy, GlobalNetworkPolicy or
// staged form of them ("default" when spec.tier is empty); ok is false for
// any other object.
func PolicyTier(obj runtime.Object) (tier string, ok bool) {
	switch p := obj.(type) {
	case *NetworkPolicy:
		tier = p.Spec.Tier
	case *GlobalNetworkPolicy:
		tier = p.Spec.Tier
	case *StagedNetworkPolicy:
		tier = p.Spec.Tier
	case *StagedGlobalNetworkPolicy:
		tier = p.Spec.Tier
	default:
		return "", false
	}
	if tier == "" {
		tier = DefaultTierName
	}
	return tier, true
}

// defaultTierLabel sets the tier label when it is missing, or when an update
// left it at its stored value (old's) while the tier changed.
func defaultTierLabel(obj, old metav1.Object, tier string) {
	labels := obj.GetLabels()
	if v, set := labels[LabelTier]; set {
		if v == tier || old == nil {
			return
		}
		if was, wasSet := old.GetLabels()[LabelTier]; !wasSet || was != v {
			return // set by this write: for validation to judge
		}
	}
	labels = maps.Clone(labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelTier] = tier
	obj.SetLabels(labels)
}

func defaultFelixForWrite(s *FelixConfigurationSpec) {
	if s.FloatingIPs == nil {
		v := FloatingIPsDisabled
		s.FloatingIPs = &v
	}
	if s.BPFConnectTimeLoadBalancing == nil {
		v := BPFConnectTimeLBTCP
		s.BPFConnectTimeLoadBalancing = &v
	}
	if s.BPFHostNetworkedNATWithoutCTLB == nil {
		v := BPFHostNetworkedNATEnabled
		s.BPFHostNetworkedNATWithoutCTLB = &v
	}
	if on := s.BPFConnectTimeLoadBalancingEnabled; on != nil {
		ctlb, nat := BPFConnectTimeLBDisabled, BPFHostNetworkedNATDisabled
		if *on {
			ctlb = BPFConnectTimeLBEnabled
		}
		s.BPFConnectTimeLoadBalancing, s.BPFHostNetworkedNATWithoutCTLB = &ctlb, &nat
	}
}

func defaultKubeControllersForWrite(s *KubeControllersConfigurationSpec) {
	if s.PrometheusMetricsPort == nil {
		p := DefaultKubeControllersMetricsPort
		s.PrometheusMetricsPort = &p
	}
	if n := s.Controllers.Node; n != nil && n.LeakGracePeriod == nil {
		n.LeakGracePeriod = &metav1.Duration{Duration: DefaultLeakGracePeriod}
	}
}
