package v3_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/calicong/calico/api/v3"
)

func TestKindFor(t *testing.T) {
	for alias, kind := range map[string]string{
		"gnp": "GlobalNetworkPolicy", "GNPS": "GlobalNetworkPolicy", "GlobalNetworkPolicy": "GlobalNetworkPolicy",
		"globalnetworkpolicies.projectcalico.org": "GlobalNetworkPolicy",
		"policy": "NetworkPolicy", "pols": "NetworkPolicy", "np": "NetworkPolicy", "cnp": "NetworkPolicy",
		"gns": "GlobalNetworkSet", "hep": "HostEndpoint", "ipp": "IPPool", "Pools": "IPPool",
		"bgpconfig": "BGPConfiguration", "bp": "BGPPeer", "bgpf": "BGPFilter", "felixconfig": "FelixConfiguration",
		"kubecontrollersconfig": "KubeControllersConfiguration", "kcc": "KubeControllersConfiguration",
		"clusterinfo": "ClusterInformation", "nodestatus": "CalicoNodeStatus", "ipamconfig": "IPAMConfiguration",
		"affinities": "BlockAffinity", "ipamblock": "IPAMBlock", "ipamhandles": "IPAMHandle",
		"sgnp": "StagedGlobalNetworkPolicy", "snp": "StagedNetworkPolicy", "sknp": "StagedKubernetesNetworkPolicy",
		"pro": "Profile", "wep": "WorkloadEndpoint", "tier": "Tier", "reservation": "IPReservation",
		"netsets": "NetworkSet",
	} {
		k, ok := v3.KindFor(alias)
		if !ok || k.Kind != kind {
			t.Errorf("KindFor(%q) = %q, %v; want %q", alias, k.Kind, ok, kind)
		}
	}
	for _, bad := range []string{"", "pod", "networkpolicies.networking.k8s.io", "nope"} {
		if k, ok := v3.KindFor(bad); ok {
			t.Errorf("KindFor(%q) = %s", bad, k.Kind)
		}
	}
}

func TestRegistryConsistent(t *testing.T) {
	names := map[string]string{}
	scheme := runtime.NewScheme()
	if err := v3.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	for _, k := range v3.Kinds() {
		for _, n := range append(append([]string{k.Plural, k.Singular}, k.Aliases...), k.ShortNames...) {
			if other, dup := names[n]; dup && other != k.Kind {
				t.Errorf("name %q belongs to both %s and %s", n, other, k.Kind)
			}
			names[n] = k.Kind
		}
		o := k.New()
		if gvk := o.GetObjectKind().GroupVersionKind(); gvk != k.GroupVersionKind() {
			t.Errorf("%s: New() has %v", k.Kind, gvk)
		}
		if got, ok := v3.KindOf(o); !ok || got.Kind != k.Kind {
			t.Errorf("KindOf(New %s) = %s", k.Kind, got.Kind)
		}
		gvks, _, err := scheme.ObjectKinds(o)
		if err != nil || len(gvks) != 1 || gvks[0] != k.GroupVersionKind() {
			t.Errorf("%s: scheme knows it as %v (%v)", k.Kind, gvks, err)
		}
		l := k.NewList()
		if gvk := l.GetObjectKind().GroupVersionKind(); gvk.Kind != k.Kind+"List" {
			t.Errorf("%s: NewList() has %v", k.Kind, gvk)
		}
		if _, _, err := scheme.ObjectKinds(l); err != nil {
			t.Errorf("%s list: %v", k.Kind, err)
		}
	}
	if len(v3.Kinds()) != 33 {
		t.Errorf("%d kinds, want 33", len(v3.Kinds()))
	}
}
