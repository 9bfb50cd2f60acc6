// Package validation is the one validator every writer of projectcalico.org/v3
// objects uses: the CLI before it writes, the admission webhook before the API
// server stores, and readers that must not trust what is stored. Writers call
// v3.DefaultForWrite first, then ValidateWrite (or ValidateUpdate for an
// update); readers call v3.Default, then Validate.
//
// It checks everything the CRD schemas and their CEL rules check, so that a
// writer that bypasses the API server gets the same answers, plus what a schema
// cannot express: that selectors parse, that CIDRs and addresses are well formed
// and consistent with the rule's IP version, port ranges, names, and the
// relations between fields. Every error carries the field path (for example
// spec.ingress[2].source.selector) and says what would be accepted.
package validation

import (
	"fmt"
	"math"
	"net/netip"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/selector"
)

var (
	metaPath = field.NewPath("metadata")
	specPath = field.NewPath("spec")
)

// Validate checks a defaulted object of this package's kinds (or a list of
// them). Objects of other types yield a single error.
func Validate(obj runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *v3.Tier:
		return validateTier(o)
	case *v3.NetworkPolicy:
		return validateNetworkPolicy(o)
	case *v3.GlobalNetworkPolicy:
		return validateGlobalNetworkPolicy(o)
	case *v3.StagedNetworkPolicy:
		return validateStagedNetworkPolicy(o)
	case *v3.StagedGlobalNetworkPolicy:
		return validateStagedGlobalNetworkPolicy(o)
	case *v3.StagedKubernetesNetworkPolicy:
		return validateStagedKubernetesNetworkPolicy(o)
	case *v3.NetworkSet:
		errs := append(validateMeta(&o.ObjectMeta, true, subdomainName), validateNetworkSetLabels(o.Labels)...)
		errs = append(errs, validateDomains(specPath.Child("allowedEgressDomains"), o.Spec.AllowedEgressDomains)...)
		return append(errs, validateNetList(specPath.Child("nets"), o.Spec.Nets, true, maxSetNets)...)
	case *v3.GlobalNetworkSet:
		errs := append(validateMeta(&o.ObjectMeta, false, subdomainName), validateNetworkSetLabels(o.Labels)...)
		errs = append(errs, validateDomains(specPath.Child("allowedEgressDomains"), o.Spec.AllowedEgressDomains)...)
		return append(errs, validateNetList(specPath.Child("nets"), o.Spec.Nets, true, maxSetNets)...)
	case *v3.HostEndpoint:
		return validateHostEndpoint(o)
	case *v3.IPPool:
		return validateIPPool(o)
	case *v3.IPReservation:
		return append(validateMeta(&o.ObjectMeta, false, subdomainName),
			validateNetList(specPath.Child("reservedCIDRs"), o.Spec.ReservedCIDRs, true, 10000)...)
	case *v3.BGPConfiguration:
		return validateBGPConfiguration(o)
	case *v3.BGPPeer:
		return validateBGPPeer(o)
	case *v3.BGPFilter:
		return validateBGPFilter(o)
	case *v3.FelixConfiguration:
		return validateFelixConfiguration(o)
	case *v3.KubeControllersConfiguration:
		return validateKubeControllersConfiguration(o)
	case *v3.ClusterInformation:
		return validateMeta(&o.ObjectMeta, false, subdomainName)
	case *v3.CalicoNodeStatus:
		return validateCalicoNodeStatus(o)
	case *v3.IPAMConfiguration:
		return validateIPAMConfiguration(o)
	case *v3.IPAMBlock:
		return validateIPAMBlock(o)
	case *v3.BlockAffinity:
		return validateBlockAffinity(o)
	case *v3.IPAMHandle:
		return validateIPAMHandle(o)
	case *v3.Profile:
		return validateProfile(o)
	case *v3.WorkloadEndpoint:
		return validateWorkloadEndpoint(o)
	case *v3.Node:
		return validateNode(o)
	case *v3.GlobalThreatFeed:
		return validateGlobalThreatFeed(o)
	case *v3.GlobalAlert:
		return validateGlobalAlert(o)
	case *v3.GlobalAlertTemplate:
		return validateGlobalAlertTemplate(o)
	case *v3.AlertException:
		return validateAlertException(o)
	case *v3.SecurityEventWebhook:
		return validateSecurityEventWebhook(o)
	case *v3.GlobalReportType:
		return validateGlobalReportType(o)
	case *v3.GlobalReport:
		return validateGlobalReport(o)
	case *v3.PacketCapture:
		return validatePacketCapture(o)
	}
	if l, ok := obj.(v3.ListObject); ok {
		if items, ok := listItems(l); ok {
			var errs field.ErrorList
			for i, it := range items {
				for _, e := range Validate(it) {
					e.Field = fmt.Sprintf("items[%d].%s", i, e.Field)
					errs = append(errs, e)
				}
			}
			return errs
		}
	}
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("validate: %T is not a projectcalico.org/v3 object", obj))}
}

// ValidateWrite checks an object about to be written (defaulted with
// v3.DefaultForWrite): what Validate checks, plus what only a write must
// satisfy. Objects already stored are read with Validate, which leaves these
// out, so that one stored before the rule existed is still used.
//   - NetworkPolicy, GlobalNetworkPolicy and their staged forms: the label
//     projectcalico.org/tier, when present, names the policy's tier (Calico
//     lists and authorises by it, so a contradicting label would hide the
//     policy from, or show it to, the wrong tier's users).
func ValidateWrite(obj runtime.Object) field.ErrorList {
	return append(Validate(obj), validateTierLabel(obj)...)
}

// validateTierLabel refuses a policy whose tier label is not its tier.
func validateTierLabel(obj runtime.Object) field.ErrorList {
	tier, ok := v3.PolicyTier(obj)
	if !ok {
		return nil
	}
	v, set := obj.(metav1.Object).GetLabels()[v3.LabelTier]
	if !set || v == tier {
		return nil
	}
	return field.ErrorList{field.Invalid(metaPath.Child("labels").Key(v3.LabelTier), v,
		fmt.Sprintf("the tier label must name the policy's tier %q (spec.tier): Calico sets it from spec.tier; set it to %q or leave it out", tier, tier))}
}

// ValidateUpdate checks newObj as ValidateWrite does, and that the update
// changes nothing that cannot change: object identity and the fields listed
// below.
//   - IPPool: cidr and blockSize (blocks already carved from the pool depend on
//     them; create a new pool and migrate instead);
//   - IPAMBlock: cidr; BlockAffinity: cidr and node; IPAMHandle: handleID.
func ValidateUpdate(newObj, oldObj runtime.Object) field.ErrorList {
	errs := ValidateWrite(newObj)
	nk, nok := v3.KindOf(newObj)
	ok, ook := v3.KindOf(oldObj)
	if !nok || !ook || nk.Kind != ok.Kind {
		return append(errs, field.Forbidden(nil, fmt.Sprintf("an update cannot change the object's type (%T to %T)", oldObj, newObj)))
	}
	nm, om := newObj.(v3.Object), oldObj.(v3.Object)
	errs = append(errs, apivalidation.ValidateObjectMetaAccessorUpdate(nm, om, metaPath)...)
	switch n := newObj.(type) {
	case *v3.IPPool:
		o := oldObj.(*v3.IPPool).DeepCopy()
		nn := n.DeepCopy()
		v3.Default(o)
		v3.Default(nn)
		errs = append(errs, immutable(specPath.Child("cidr"), nn.Spec.CIDR, o.Spec.CIDR, "create a new pool and migrate workloads to it")...)
		errs = append(errs, immutable(specPath.Child("blockSize"), nn.Spec.BlockSize, o.Spec.BlockSize, "create a new pool with the new block size")...)
	case *v3.IPAMBlock:
		errs = append(errs, immutable(specPath.Child("cidr"), n.Spec.CIDR, oldObj.(*v3.IPAMBlock).Spec.CIDR, "")...)
	case *v3.BlockAffinity:
		o := oldObj.(*v3.BlockAffinity)
		errs = append(errs, immutable(specPath.Child("cidr"), n.Spec.CIDR, o.Spec.CIDR, "")...)
		errs = append(errs, immutable(specPath.Child("node"), n.Spec.Node, o.Spec.Node, "")...)
	case *v3.IPAMHandle:
		errs = append(errs, immutable(specPath.Child("handleID"), n.Spec.HandleID, oldObj.(*v3.IPAMHandle).Spec.HandleID, "")...)
	}
	return errs
}

func immutable[T comparable](p *field.Path, newV, oldV T, hint string) field.ErrorList {
	if newV == oldV {
		return nil
	}
	msg := fmt.Sprintf("cannot be changed from %v", oldV)
	if hint != "" {
		msg += "; " + hint
	}
	return field.ErrorList{field.Forbidden(p, msg)}
}

func listItems(l v3.ListObject) ([]runtime.Object, bool) {
	var out []runtime.Object
	add := func(o runtime.Object) { out = append(out, o) }
	switch x := l.(type) {
	case *v3.TierList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.NetworkPolicyList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.GlobalNetworkPolicyList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.StagedNetworkPolicyList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.StagedGlobalNetworkPolicyList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.StagedKubernetesNetworkPolicyList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.NetworkSetList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.GlobalNetworkSetList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.HostEndpointList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.IPPoolList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.IPReservationList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.BGPConfigurationList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.BGPPeerList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.BGPFilterList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.FelixConfigurationList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.GlobalThreatFeedList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.GlobalAlertList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.GlobalAlertTemplateList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.AlertExceptionList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	case *v3.SecurityEventWebhookList:
		for i := range x.Items {
			add(&x.Items[i])
		}
	default:
		return nil, false
	}
	return out, true
}

// Name rules.
const (
	subdomainName = iota
	labelName
)

// validateMeta checks names (DNS-1123 subdomains, or labels for tiers), the
// namespace (required to be empty for cluster-scoped kinds; an empty namespace of
// a namespaced kind is accepted, as the API server fills it in from the request)
// and labels and annotations.
func validateMeta(m *metav1.ObjectMeta, namespaced bool, rule int) field.ErrorList {
	nameFn := apivalidation.NameIsDNSSubdomain
	if rule == labelName {
		nameFn = apivalidation.NameIsDNSLabel
	}
	return apivalidation.ValidateObjectMeta(m, namespaced && m.Namespace != "", nameFn, metaPath)
}

// namespaceLabel is the label Calico gives endpoints and network sets for
// their namespace when it evaluates selectors.
const namespaceLabel = "projectcalico.org/namespace"

// validateNetworkSetLabels refuses the label Calico reserves for a network
// set's namespace: a set may not claim another namespace through it.
func validateNetworkSetLabels(labels map[string]string) field.ErrorList {
	if _, ok := labels[namespaceLabel]; ok {
		return field.ErrorList{field.Forbidden(metaPath.Child("labels").Key(namespaceLabel), "is reserved: Calico sets it to the network set's namespace when it evaluates selectors")}
	}
	return nil
}

// validateObjectName checks the name of another object (a node, a profile, a
// pod): a DNS-1123 subdomain. what, when set, says what it names.
func validateObjectName(p *field.Path, name, what string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range apivalidation.NameIsDNSSubdomain(name, false) {
		if what != "" {
			msg = "must be the name of " + what + ": " + msg
		}
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

// validateSelector checks that s parses. global() is only allowed where
// allowGlobal is set (a rule's namespaceSelector, see validateNamespaceSelector).
func validateSelector(p *field.Path, s string, allowGlobal bool) field.ErrorList {
	if s == "" {
		return nil
	}
	if len(s) > maxSelectorLen {
		return field.ErrorList{field.TooLong(p, "", maxSelectorLen)}
	}
	sel, err := selector.Parse(s)
	if err != nil {
		return field.ErrorList{field.Invalid(p, s, err.Error())}
	}
	// The text test matches the CRD's CEL rule, which cannot parse selectors.
	if !allowGlobal && (sel.UsesGlobal() || strings.Contains(s, "global(")) {
		return field.ErrorList{field.Invalid(p, s, "global() can only be used in a rule's namespaceSelector; use all() or a label expression here")}
	}
	return nil
}

// validateNamespaceSelector checks a rule's namespaceSelector: a selector,
// or global() on its own (which selects non-namespaced endpoints such as
// host endpoints and global network sets, so it cannot be combined with
// namespace labels).
func validateNamespaceSelector(p *field.Path, s string) field.ErrorList {
	if errs := validateSelector(p, s, true); len(errs) > 0 {
		return errs
	}
	if strings.Contains(s, "global(") && strings.TrimSpace(s) != "global()" {
		return field.ErrorList{field.Invalid(p, s, "global() cannot be combined with other terms; use namespaceSelector: global() on its own, or a namespace label expression without it")}
	}
	return nil
}

const (
	maxSelectorLen = 1024
	maxRules       = 1024
	maxNets        = 256
	maxPorts       = 50
	maxSetNets     = 100000
)

// parseNet parses a CIDR, or a bare address when allowIP is set (as a single
// address network). It returns the masked prefix.
func parseNet(s string, allowIP bool) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("zones are not allowed")
		}
		return p.Masked(), nil
	}
	if allowIP {
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			return netip.PrefixFrom(a, a.BitLen()), nil
		}
		return netip.Prefix{}, fmt.Errorf("must be an address range in CIDR notation (e.g. 10.0.0.0/8 or fd00::/8) or a single address")
	}
	return netip.Prefix{}, fmt.Errorf("must be an address range in CIDR notation, e.g. 10.0.0.0/8 or fd00::/8")
}

// parseMaskedNet parses a bare address or a CIDR whose address has no bits
// set beyond its prefix, as rules and BGP advertisements require.
func parseMaskedNet(s string) (netip.Prefix, error) {
	pr, err := parseNet(s, true)
	if err != nil {
		return pr, err
	}
	if p, err := netip.ParsePrefix(s); err == nil && p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("has bits set beyond its /%d prefix; use the network address %s", p.Bits(), p.Masked())
	}
	return pr, nil
}

func family(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

// validateNetList checks a list of CIDRs and returns the errors; the families
// found are reported through fams when not nil.
func validateNetList(p *field.Path, nets []string, allowIP bool, max int) field.ErrorList {
	errs, _ := validateNets(p, nets, allowIP, max)
	return errs
}

func validateNets(p *field.Path, nets []string, allowIP bool, max int) (field.ErrorList, map[int]bool) {
	var errs field.ErrorList
	fams := map[int]bool{}
	if len(nets) > max {
		errs = append(errs, field.TooMany(p, len(nets), max))
	}
	for i, n := range nets {
		pr, err := parseNet(n, allowIP)
		if err != nil {
			errs = append(errs, field.Invalid(p.Index(i), n, err.Error()))
			continue
		}
		fams[family(pr)] = true
	}
	return errs, fams
}

func validateIP(p *field.Path, s string, want int) field.ErrorList {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return field.ErrorList{field.Invalid(p, s, "must be an IP address, e.g. 192.0.2.1 or 2001:db8::1")}
	}
	if want == 4 && !a.Is4() {
		return field.ErrorList{field.Invalid(p, s, "must be an IPv4 address")}
	}
	if want == 6 && !a.Is6() {
		return field.ErrorList{field.Invalid(p, s, "must be an IPv6 address")}
	}
	return nil
}

func validateOrder(p *field.Path, o *float64) field.ErrorList {
	if o != nil && (math.IsNaN(*o) || math.IsInf(*o, 0)) {
		return field.ErrorList{field.Invalid(p, *o, "must be a finite number")}
	}
	return nil
}

// oneOf checks that v is one of the allowed values; empty is allowed when
// optional.
func oneOf[T ~string](p *field.Path, v T, optional bool, allowed ...T) field.ErrorList {
	if v == "" && optional {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	if v == "" {
		return field.ErrorList{field.Required(p, "must be one of "+join(allowed))}
	}
	return field.ErrorList{field.NotSupported(p, v, allowed)}
}

// oneOfFold is oneOf ignoring case, for the settings Calico matches that way.
func oneOfFold(p *field.Path, v string, allowed ...string) field.ErrorList {
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, v, allowed)}
}

func join[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
