package validation_test

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
)

func TestWarnings(t *testing.T) {
	http := &v3.HTTPMatch{Methods: []string{"GET"}}
	const httpWarning = ": HTTP matches are not enforced by this dataplane (no L7 proxy); the rule applies to its L3/L4 part only"
	withEgress := np(v3.Rule{Action: v3.Allow}, v3.Rule{Action: v3.Deny, HTTP: http})
	withEgress.Spec.Egress = []v3.Rule{{Action: v3.Allow}}
	profile := &v3.Profile{ObjectMeta: meta("kns.prod"), Spec: v3.ProfileSpec{Ingress: []v3.Rule{{Action: v3.Allow, HTTP: http}}}}
	staged := &v3.StagedGlobalNetworkPolicy{ObjectMeta: meta("s"), Spec: v3.StagedGlobalNetworkPolicySpec{Ingress: []v3.Rule{{Action: v3.Pass, HTTP: http}}}}
	for _, c := range []struct {
		name string
		obj  runtime.Object
		want []string
	}{
		{"http on the second ingress rule", withEgress, []string{"spec.ingress[1].http" + httpWarning}},
		{"http on two rules", gnp(v3.Rule{Action: v3.Allow, HTTP: http}, v3.Rule{Action: v3.Log, HTTP: http}),
			[]string{"spec.ingress[0].http" + httpWarning, "spec.ingress[1].http" + httpWarning}},
		{"profile", profile, []string{"spec.ingress[0].http" + httpWarning}},
		{"staged policy", staged, []string{"spec.ingress[0].http" + httpWarning}},
		{"policy list", &v3.GlobalNetworkPolicyList{Items: []v3.GlobalNetworkPolicy{*gnp(), *gnp(v3.Rule{Action: v3.Allow, HTTP: http})}},
			[]string{"items[1].spec.ingress[0].http" + httpWarning}},
		{"no http", gnp(v3.Rule{Action: v3.Allow}), nil},
		{"IPIP Always", pool("10.0.0.0/16", func(s *v3.IPPoolSpec) { s.IPIPMode = v3.EncapAlways }),
			[]string{"spec.ipipMode: IPIP is not implemented; pool 10.0.0.0/16 is routed without encapsulation (use vxlanMode: Always or CrossSubnet instead)"}},
		{"IPIP CrossSubnet names the canonical CIDR", pool("10.1.2.3/16", func(s *v3.IPPoolSpec) { s.IPIPMode = v3.EncapCrossSubnet }),
			[]string{"spec.ipipMode: IPIP is not implemented; pool 10.1.0.0/16 is routed without encapsulation (use vxlanMode: Always or CrossSubnet instead)"}},
		{"IPIP Never", pool("10.0.0.0/16", func(s *v3.IPPoolSpec) { s.IPIPMode = v3.EncapNever }), nil},
		{"VXLAN", pool("10.0.0.0/16", func(s *v3.IPPoolSpec) { s.VXLANMode = v3.EncapAlways }), nil},
		{"other kinds", &v3.Tier{ObjectMeta: meta("t")}, nil},
	} {
		if got := validation.Warnings(c.obj); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: warnings\n  %q\nwant\n  %q", c.name, got, c.want)
		}
	}
}
