package v3_test

import (
	"reflect"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/calicong/calico/api/v3"
)

func ptr[T any](v T) *T { return &v }

var (
	in  = v3.PolicyTypeIngress
	out = v3.PolicyTypeEgress
	r   = []v3.Rule{{Action: v3.Allow}}
)

func TestDefault(t *testing.T) {
	tests := []struct {
		name string
		in   runtime.Object
		want runtime.Object
	}{
		{"np no rules", &v3.NetworkPolicy{}, &v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Tier: "default", Types: []v3.PolicyType{in}}}},
		{"np ingress only", &v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Ingress: r}},
			&v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Tier: "default", Ingress: r, Types: []v3.PolicyType{in}}}},
		{"np egress only", &v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Egress: r}},
			&v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Tier: "default", Egress: r, Types: []v3.PolicyType{out}}}},
		{"np both", &v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Ingress: r, Egress: r}},
			&v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Tier: "default", Ingress: r, Egress: r, Types: []v3.PolicyType{in, out}}}},
		{"np explicit types and tier kept", &v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Tier: "sec", Types: []v3.PolicyType{out}, Ingress: r}},
			&v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Tier: "sec", Types: []v3.PolicyType{out}, Ingress: r}}},
		{"gnp egress only", &v3.GlobalNetworkPolicy{Spec: v3.GlobalNetworkPolicySpec{Egress: r}},
			&v3.GlobalNetworkPolicy{Spec: v3.GlobalNetworkPolicySpec{Tier: "default", Egress: r, Types: []v3.PolicyType{out}}}},
		{"snp", &v3.StagedNetworkPolicy{Spec: v3.StagedNetworkPolicySpec{Ingress: r, Egress: r}},
			&v3.StagedNetworkPolicy{Spec: v3.StagedNetworkPolicySpec{StagedAction: v3.StagedActionSet, Tier: "default", Ingress: r, Egress: r, Types: []v3.PolicyType{in, out}}}},
		{"sgnp keeps Delete", &v3.StagedGlobalNetworkPolicy{Spec: v3.StagedGlobalNetworkPolicySpec{StagedAction: v3.StagedActionDelete}},
			&v3.StagedGlobalNetworkPolicy{Spec: v3.StagedGlobalNetworkPolicySpec{StagedAction: v3.StagedActionDelete, Tier: "default", Types: []v3.PolicyType{in}}}},
		{"sknp egress only gets both (k8s semantics)", &v3.StagedKubernetesNetworkPolicy{Spec: v3.StagedKubernetesNetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{{}}}},
			&v3.StagedKubernetesNetworkPolicy{Spec: v3.StagedKubernetesNetworkPolicySpec{StagedAction: v3.StagedActionSet, Egress: []networkingv1.NetworkPolicyEgressRule{{}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}}}},
		{"sknp no rules", &v3.StagedKubernetesNetworkPolicy{},
			&v3.StagedKubernetesNetworkPolicy{Spec: v3.StagedKubernetesNetworkPolicySpec{StagedAction: v3.StagedActionSet, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}},
		{"tier", &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "sec"}},
			&v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "sec"}, Spec: v3.TierSpec{DefaultAction: v3.Deny}}},
		{"tier kube-admin", &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "kube-admin"}},
			&v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "kube-admin"}, Spec: v3.TierSpec{DefaultAction: v3.Pass, Order: ptr(1000.0)}}},
		{"tier default", &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
			&v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v3.TierSpec{DefaultAction: v3.Deny, Order: ptr(1e6)}}},
		{"tier kube-baseline", &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "kube-baseline"}},
			&v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "kube-baseline"}, Spec: v3.TierSpec{DefaultAction: v3.Pass, Order: ptr(1e7)}}},
		{"ippool v4, cidr masked", &v3.IPPool{Spec: v3.IPPoolSpec{CIDR: "10.1.2.3/16"}}, &v3.IPPool{Spec: v3.IPPoolSpec{
			CIDR: "10.1.0.0/16", BlockSize: 26, IPIPMode: v3.EncapNever, VXLANMode: v3.EncapNever, NodeSelector: "all()",
			AllowedUses: []v3.IPPoolAllowedUse{v3.IPPoolAllowedUseWorkload, v3.IPPoolAllowedUseTunnel}, AssignmentMode: ptr(v3.AssignmentModeAutomatic)}}},
		{"ippool v6 canonical", &v3.IPPool{Spec: v3.IPPoolSpec{CIDR: "FD00:0:0::1/48", BlockSize: 120, VXLANMode: v3.EncapAlways}}, &v3.IPPool{Spec: v3.IPPoolSpec{
			CIDR: "fd00::/48", BlockSize: 120, IPIPMode: v3.EncapNever, VXLANMode: v3.EncapAlways, NodeSelector: "all()",
			AllowedUses: []v3.IPPoolAllowedUse{v3.IPPoolAllowedUseWorkload, v3.IPPoolAllowedUseTunnel}, AssignmentMode: ptr(v3.AssignmentModeAutomatic)}}},
		{"ippool v6 block size", &v3.IPPool{Spec: v3.IPPoolSpec{CIDR: "fd00::/48", AllowedUses: []v3.IPPoolAllowedUse{v3.IPPoolAllowedUseLoadBalancer}}}, &v3.IPPool{Spec: v3.IPPoolSpec{
			CIDR: "fd00::/48", BlockSize: 122, IPIPMode: v3.EncapNever, VXLANMode: v3.EncapNever, NodeSelector: "all()",
			AllowedUses: []v3.IPPoolAllowedUse{v3.IPPoolAllowedUseLoadBalancer}, AssignmentMode: ptr(v3.AssignmentModeAutomatic)}}},
		{"ippool bad cidr left for validation", &v3.IPPool{Spec: v3.IPPoolSpec{CIDR: "bogus"}}, &v3.IPPool{Spec: v3.IPPoolSpec{
			CIDR: "bogus", IPIPMode: v3.EncapNever, VXLANMode: v3.EncapNever, NodeSelector: "all()",
			AllowedUses: []v3.IPPoolAllowedUse{v3.IPPoolAllowedUseWorkload, v3.IPPoolAllowedUseTunnel}, AssignmentMode: ptr(v3.AssignmentModeAutomatic)}}},
		{"bgpconfig", &v3.BGPConfiguration{}, &v3.BGPConfiguration{Spec: v3.BGPConfigurationSpec{LogSeverityScreen: "Info", ServiceLoadBalancerAggregation: ptr("Enabled")}}},
		{"felixconfig", &v3.FelixConfiguration{}, &v3.FelixConfiguration{Spec: v3.FelixConfigurationSpec{NFTablesMode: ptr(v3.NFTablesModeAuto)}}},
		{"kcc", &v3.KubeControllersConfiguration{Spec: v3.KubeControllersConfigurationSpec{Controllers: v3.ControllersConfig{
			LoadBalancer: &v3.LoadBalancerControllerConfig{}, Migration: &v3.MigrationControllerConfig{}}}},
			&v3.KubeControllersConfiguration{Spec: v3.KubeControllersConfigurationSpec{HealthChecks: "Enabled", Controllers: v3.ControllersConfig{
				LoadBalancer: &v3.LoadBalancerControllerConfig{AssignIPs: v3.AllServices}, Migration: &v3.MigrationControllerConfig{PolicyNameMigrator: "Enabled"}}}}},
		{"ipamconfig", &v3.IPAMConfiguration{}, &v3.IPAMConfiguration{Spec: v3.IPAMConfigurationSpec{AutoAllocateBlocks: ptr(true)}}},
		{"ipamconfig keeps false", &v3.IPAMConfiguration{Spec: v3.IPAMConfigurationSpec{AutoAllocateBlocks: ptr(false)}},
			&v3.IPAMConfiguration{Spec: v3.IPAMConfigurationSpec{AutoAllocateBlocks: ptr(false)}}},
		{"list items", &v3.NetworkPolicyList{Items: []v3.NetworkPolicy{{}}},
			&v3.NetworkPolicyList{Items: []v3.NetworkPolicy{{TypeMeta: metav1.TypeMeta{APIVersion: v3.GroupVersionString, Kind: "NetworkPolicy"},
				Spec: v3.NetworkPolicySpec{Tier: "default", Types: []v3.PolicyType{in}}}}}},
		{"untouched kind", &v3.HostEndpoint{Spec: v3.HostEndpointSpec{Node: "n"}}, &v3.HostEndpoint{Spec: v3.HostEndpointSpec{Node: "n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.DeepCopyObject()
			v3.Default(got)
			// TypeMeta is filled in for single objects; compare without it.
			if k, ok := v3.KindOf(got); ok {
				if gvk := got.GetObjectKind().GroupVersionKind(); gvk != k.GroupVersionKind() {
					t.Errorf("TypeMeta not set: %v", gvk)
				}
				got.GetObjectKind().SetGroupVersionKind(tt.want.GetObjectKind().GroupVersionKind())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			again := got.DeepCopyObject()
			v3.Default(again)
			if _, ok := v3.KindOf(again); ok {
				again.GetObjectKind().SetGroupVersionKind(got.GetObjectKind().GroupVersionKind())
			}
			if !reflect.DeepEqual(again, got) {
				t.Errorf("not idempotent: %+v", again)
			}
		})
	}
}

func TestDefaultIgnoresForeignObjects(t *testing.T) {
	v3.Default(&metav1.Status{}) // must not panic
}

func TestDefaultForWrite(t *testing.T) {
	tierLabel := func(v string) map[string]string { return map[string]string{v3.LabelTier: v} }
	meta := func(l map[string]string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: "p", Labels: l} }
	fip, ctlb, nat := ptr(v3.FloatingIPsDisabled), ptr(v3.BPFConnectTimeLBTCP), ptr(v3.BPFHostNetworkedNATEnabled)
	nft := ptr(v3.NFTablesModeAuto)
	tests := []struct {
		name    string
		in, old runtime.Object
		want    runtime.Object
	}{
		{"np: label from the tier", &v3.NetworkPolicy{ObjectMeta: meta(nil), Spec: v3.NetworkPolicySpec{Tier: "sec"}}, nil,
			&v3.NetworkPolicy{ObjectMeta: meta(tierLabel("sec")), Spec: v3.NetworkPolicySpec{Tier: "sec", Types: []v3.PolicyType{in}}}},
		{"gnp: empty tier is default, other labels kept", &v3.GlobalNetworkPolicy{ObjectMeta: meta(map[string]string{"team": "a"})}, nil,
			&v3.GlobalNetworkPolicy{ObjectMeta: meta(map[string]string{"team": "a", v3.LabelTier: "default"}), Spec: v3.GlobalNetworkPolicySpec{Tier: "default", Types: []v3.PolicyType{in}}}},
		{"snp", &v3.StagedNetworkPolicy{ObjectMeta: meta(nil), Spec: v3.StagedNetworkPolicySpec{Tier: "app"}}, nil,
			&v3.StagedNetworkPolicy{ObjectMeta: meta(tierLabel("app")), Spec: v3.StagedNetworkPolicySpec{StagedAction: v3.StagedActionSet, Tier: "app", Types: []v3.PolicyType{in}}}},
		{"sgnp", &v3.StagedGlobalNetworkPolicy{ObjectMeta: meta(nil), Spec: v3.StagedGlobalNetworkPolicySpec{Tier: "app"}}, nil,
			&v3.StagedGlobalNetworkPolicy{ObjectMeta: meta(tierLabel("app")), Spec: v3.StagedGlobalNetworkPolicySpec{StagedAction: v3.StagedActionSet, Tier: "app", Types: []v3.PolicyType{in}}}},
		{"sknp has no tier and no label", &v3.StagedKubernetesNetworkPolicy{ObjectMeta: meta(nil)}, nil,
			&v3.StagedKubernetesNetworkPolicy{ObjectMeta: meta(nil), Spec: v3.StagedKubernetesNetworkPolicySpec{StagedAction: v3.StagedActionSet,
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}},
		{"create: a contradicting label is left for validation", &v3.NetworkPolicy{ObjectMeta: meta(tierLabel("default")), Spec: v3.NetworkPolicySpec{Tier: "sec"}}, nil,
			&v3.NetworkPolicy{ObjectMeta: meta(tierLabel("default")), Spec: v3.NetworkPolicySpec{Tier: "sec", Types: []v3.PolicyType{in}}}},
		{"update leaving the label as stored: it follows the tier",
			&v3.NetworkPolicy{ObjectMeta: meta(tierLabel("default")), Spec: v3.NetworkPolicySpec{Tier: "sec"}},
			&v3.NetworkPolicy{ObjectMeta: meta(tierLabel("default")), Spec: v3.NetworkPolicySpec{Tier: "default"}},
			&v3.NetworkPolicy{ObjectMeta: meta(tierLabel("sec")), Spec: v3.NetworkPolicySpec{Tier: "sec", Types: []v3.PolicyType{in}}}},
		{"update of a stored wrong label that it leaves: corrected",
			&v3.GlobalNetworkPolicy{ObjectMeta: meta(tierLabel("default")), Spec: v3.GlobalNetworkPolicySpec{Tier: "sec"}},
			&v3.GlobalNetworkPolicy{ObjectMeta: meta(tierLabel("default")), Spec: v3.GlobalNetworkPolicySpec{Tier: "sec"}},
			&v3.GlobalNetworkPolicy{ObjectMeta: meta(tierLabel("sec")), Spec: v3.GlobalNetworkPolicySpec{Tier: "sec", Types: []v3.PolicyType{in}}}},
		{"update setting a contradicting label: left for validation",
			&v3.NetworkPolicy{ObjectMeta: meta(tierLabel("other")), Spec: v3.NetworkPolicySpec{Tier: "sec"}},
			&v3.NetworkPolicy{ObjectMeta: meta(tierLabel("sec")), Spec: v3.NetworkPolicySpec{Tier: "sec"}},
			&v3.NetworkPolicy{ObjectMeta: meta(tierLabel("other")), Spec: v3.NetworkPolicySpec{Tier: "sec", Types: []v3.PolicyType{in}}}},
		{"update adding a contradicting label to an unlabelled policy: left for validation",
			&v3.NetworkPolicy{ObjectMeta: meta(tierLabel("default")), Spec: v3.NetworkPolicySpec{Tier: "sec"}},
			&v3.NetworkPolicy{ObjectMeta: meta(nil), Spec: v3.NetworkPolicySpec{Tier: "sec"}},
			&v3.NetworkPolicy{ObjectMeta: meta(tierLabel("default")), Spec: v3.NetworkPolicySpec{Tier: "sec", Types: []v3.PolicyType{in}}}},
		{"felixconfig: Calico's client defaults", &v3.FelixConfiguration{ObjectMeta: meta(nil)}, nil,
			&v3.FelixConfiguration{ObjectMeta: meta(nil), Spec: v3.FelixConfigurationSpec{NFTablesMode: nft,
				FloatingIPs: fip, BPFConnectTimeLoadBalancing: ctlb, BPFHostNetworkedNATWithoutCTLB: nat}}},
		{"felixconfig node.x too, values kept", &v3.FelixConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "node.x"}, Spec: v3.FelixConfigurationSpec{
			FloatingIPs: ptr(v3.FloatingIPsEnabled), BPFConnectTimeLoadBalancing: ptr(v3.BPFConnectTimeLBDisabled), BPFHostNetworkedNATWithoutCTLB: ptr(v3.BPFHostNetworkedNATDisabled)}}, nil,
			&v3.FelixConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "node.x"}, Spec: v3.FelixConfigurationSpec{NFTablesMode: nft,
				FloatingIPs: ptr(v3.FloatingIPsEnabled), BPFConnectTimeLoadBalancing: ptr(v3.BPFConnectTimeLBDisabled), BPFHostNetworkedNATWithoutCTLB: ptr(v3.BPFHostNetworkedNATDisabled)}}},
		{"felixconfig: the deprecated CTLB switch on decides", &v3.FelixConfiguration{ObjectMeta: meta(nil), Spec: v3.FelixConfigurationSpec{
			BPFConnectTimeLoadBalancingEnabled: ptr(true), BPFConnectTimeLoadBalancing: ptr(v3.BPFConnectTimeLBTCP)}}, nil,
			&v3.FelixConfiguration{ObjectMeta: meta(nil), Spec: v3.FelixConfigurationSpec{NFTablesMode: nft, FloatingIPs: fip, BPFConnectTimeLoadBalancingEnabled: ptr(true),
				BPFConnectTimeLoadBalancing: ptr(v3.BPFConnectTimeLBEnabled), BPFHostNetworkedNATWithoutCTLB: ptr(v3.BPFHostNetworkedNATDisabled)}}},
		{"felixconfig: the deprecated CTLB switch off decides", &v3.FelixConfiguration{ObjectMeta: meta(nil), Spec: v3.FelixConfigurationSpec{
			BPFConnectTimeLoadBalancingEnabled: ptr(false)}}, nil,
			&v3.FelixConfiguration{ObjectMeta: meta(nil), Spec: v3.FelixConfigurationSpec{NFTablesMode: nft, FloatingIPs: fip, BPFConnectTimeLoadBalancingEnabled: ptr(false),
				BPFConnectTimeLoadBalancing: ptr(v3.BPFConnectTimeLBDisabled), BPFHostNetworkedNATWithoutCTLB: ptr(v3.BPFHostNetworkedNATDisabled)}}},
		{"kcc: metrics port and the node controller's grace period", &v3.KubeControllersConfiguration{ObjectMeta: meta(nil), Spec: v3.KubeControllersConfigurationSpec{
			Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{}}}}, nil,
			&v3.KubeControllersConfiguration{ObjectMeta: meta(nil), Spec: v3.KubeControllersConfigurationSpec{HealthChecks: "Enabled", PrometheusMetricsPort: ptr(9094),
				Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{LeakGracePeriod: &metav1.Duration{Duration: 15 * 60e9}}}}}},
		{"kcc: values kept, no node controller, status untouched", &v3.KubeControllersConfiguration{ObjectMeta: meta(nil),
			Spec:   v3.KubeControllersConfigurationSpec{PrometheusMetricsPort: ptr(0)},
			Status: v3.KubeControllersConfigurationStatus{RunningConfig: &v3.KubeControllersConfigurationSpec{Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{}}}}}, nil,
			&v3.KubeControllersConfiguration{ObjectMeta: meta(nil), Spec: v3.KubeControllersConfigurationSpec{HealthChecks: "Enabled", PrometheusMetricsPort: ptr(0)},
				Status: v3.KubeControllersConfigurationStatus{RunningConfig: &v3.KubeControllersConfigurationSpec{HealthChecks: "Enabled", Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{}}}}}},
		{"kcc: a grace period kept", &v3.KubeControllersConfiguration{ObjectMeta: meta(nil), Spec: v3.KubeControllersConfigurationSpec{PrometheusMetricsPort: ptr(9000),
			Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{LeakGracePeriod: &metav1.Duration{}}}}}, nil,
			&v3.KubeControllersConfiguration{ObjectMeta: meta(nil), Spec: v3.KubeControllersConfigurationSpec{HealthChecks: "Enabled", PrometheusMetricsPort: ptr(9000),
				Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{LeakGracePeriod: &metav1.Duration{}}}}}},
		{"list items", &v3.GlobalNetworkPolicyList{Items: []v3.GlobalNetworkPolicy{{Spec: v3.GlobalNetworkPolicySpec{Tier: "sec"}}}}, nil,
			&v3.GlobalNetworkPolicyList{Items: []v3.GlobalNetworkPolicy{{TypeMeta: metav1.TypeMeta{APIVersion: v3.GroupVersionString, Kind: "GlobalNetworkPolicy"},
				ObjectMeta: metav1.ObjectMeta{Labels: tierLabel("sec")}, Spec: v3.GlobalNetworkPolicySpec{Tier: "sec", Types: []v3.PolicyType{in}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.DeepCopyObject()
			var old runtime.Object
			if tt.old != nil {
				old = tt.old.DeepCopyObject()
			}
			v3.DefaultForWrite(got, old)
			// TypeMeta is filled in for single objects; compare without it.
			if _, ok := v3.KindOf(got); ok {
				got.GetObjectKind().SetGroupVersionKind(tt.want.GetObjectKind().GroupVersionKind())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if old != nil && !reflect.DeepEqual(old, tt.old) {
				t.Errorf("the stored object was changed: %+v", old)
			}
			again := got.DeepCopyObject()
			v3.DefaultForWrite(again, old)
			if _, ok := v3.KindOf(again); ok {
				again.GetObjectKind().SetGroupVersionKind(got.GetObjectKind().GroupVersionKind())
			}
			if !reflect.DeepEqual(again, got) {
				t.Errorf("not idempotent: %+v", again)
			}
		})
	}
}

// Readers default with Default: what only writers store (the tier label,
// the client-side configuration defaults) is not assumed of a stored
// object.
func TestDefaultLeavesWriteOnlyValues(t *testing.T) {
	p := &v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Tier: "sec"}}
	v3.Default(p)
	if p.Labels != nil {
		t.Errorf("Default set labels %v", p.Labels)
	}
	fc := &v3.FelixConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "node.x"}}
	v3.Default(fc)
	if fc.Spec.FloatingIPs != nil || fc.Spec.BPFConnectTimeLoadBalancing != nil || fc.Spec.BPFHostNetworkedNATWithoutCTLB != nil {
		t.Errorf("Default set client-side Felix defaults: %+v", fc.Spec)
	}
	kcc := &v3.KubeControllersConfiguration{Spec: v3.KubeControllersConfigurationSpec{Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{}}}}
	v3.Default(kcc)
	if kcc.Spec.PrometheusMetricsPort != nil || kcc.Spec.Controllers.Node.LeakGracePeriod != nil {
		t.Errorf("Default set client-side kube-controllers defaults: %+v", kcc.Spec)
	}
}

func TestPolicyTier(t *testing.T) {
	for _, tt := range []struct {
		obj  runtime.Object
		tier string
		ok   bool
	}{
		{&v3.NetworkPolicy{}, "default", true},
		{&v3.GlobalNetworkPolicy{Spec: v3.GlobalNetworkPolicySpec{Tier: "a"}}, "a", true},
		{&v3.StagedNetworkPolicy{Spec: v3.StagedNetworkPolicySpec{Tier: "b"}}, "b", true},
		{&v3.StagedGlobalNetworkPolicy{Spec: v3.StagedGlobalNetworkPolicySpec{Tier: "c"}}, "c", true},
		{&v3.StagedKubernetesNetworkPolicy{}, "", false},
		{&v3.Tier{}, "", false},
	} {
		if tier, ok := v3.PolicyTier(tt.obj); tier != tt.tier || ok != tt.ok {
			t.Errorf("%T: %q %v, want %q %v", tt.obj, tier, ok, tt.tier, tt.ok)
		}
	}
}
