package validation

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
)

// Warnings lists what an object asks for that Validate accepts but this
// dataplane does not fully honour, one sentence each, led by the field path
// (kubectl prints them as "Warning: <sentence>"). Call it on a defaulted
// object, as Validate; objects of other types have no warnings.
//
//   - A rule with an http match: there is no L7 proxy, so only the rule's
//     L3/L4 part is enforced (an Allow rule allows every request, a Deny rule
//     denies every request on the matched connections).
//   - An IPPool with IPIP: there is no IPIP, the pool's routes carry no
//     encapsulation.
func Warnings(obj runtime.Object) []string {
	switch o := obj.(type) {
	case *v3.NetworkPolicy:
		return ruleWarnings(o.Spec.Ingress, o.Spec.Egress)
	case *v3.GlobalNetworkPolicy:
		return ruleWarnings(o.Spec.Ingress, o.Spec.Egress)
	case *v3.StagedNetworkPolicy:
		return ruleWarnings(o.Spec.Ingress, o.Spec.Egress)
	case *v3.StagedGlobalNetworkPolicy:
		return ruleWarnings(o.Spec.Ingress, o.Spec.Egress)
	case *v3.Profile:
		return ruleWarnings(o.Spec.Ingress, o.Spec.Egress)
	case *v3.IPPool:
		if m := o.Spec.IPIPMode; m != "" && m != v3.EncapNever {
			return []string{fmt.Sprintf("%s: IPIP is not implemented; pool %s is routed without encapsulation (use vxlanMode: Always or CrossSubnet instead)",
				specPath.Child("ipipMode"), o.Spec.CIDR)}
		}
		return nil
	}
	if l, ok := obj.(v3.ListObject); ok {
		if items, ok := listItems(l); ok {
			var out []string
			for i, it := range items {
				for _, w := range Warnings(it) {
					out = append(out, fmt.Sprintf("items[%d].%s", i, w))
				}
			}
			return out
		}
	}
	return nil
}

func ruleWarnings(ingress, egress []v3.Rule) []string {
	var out []string
	for _, l := range []struct {
		path  *field.Path
		rules []v3.Rule
	}{{specPath.Child("ingress"), ingress}, {specPath.Child("egress"), egress}} {
		for i, r := range l.rules {
			if r.HTTP != nil {
				out = append(out, fmt.Sprintf("%s: HTTP matches are not enforced by this dataplane (no L7 proxy); the rule applies to its L3/L4 part only",
					l.path.Index(i).Child("http")))
			}
		}
	}
	return out
}
