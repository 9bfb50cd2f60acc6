package validation

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	k8svalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/domainname"
)

var tierPath = specPath.Child("tier")

func validateTier(t *v3.Tier) field.ErrorList {
	errs := validateMeta(&t.ObjectMeta, false, labelName)
	errs = append(errs, validateOrder(specPath.Child("order"), t.Spec.Order)...)
	errs = append(errs, oneOf(specPath.Child("defaultAction"), t.Spec.DefaultAction, false, v3.Deny, v3.Pass)...)
	if b, ok := v3.BuiltinTierFor(t.Name); ok {
		if t.Spec.DefaultAction != "" && t.Spec.DefaultAction != b.DefaultAction {
			errs = append(errs, field.Invalid(specPath.Child("defaultAction"), t.Spec.DefaultAction,
				fmt.Sprintf("the built-in %s tier must have defaultAction %s", b.Name, b.DefaultAction)))
		}
		if t.Spec.Order != nil && *t.Spec.Order != b.Order {
			errs = append(errs, field.Invalid(specPath.Child("order"), *t.Spec.Order,
				fmt.Sprintf("the built-in %s tier must have order %v (or none)", b.Name, b.Order)))
		}
	}
	return errs
}

// Policy names. A Calico policy's name is a DNS-1123 label, optionally
// prefixed with its tier and a dot ("security.allow-dns"). A namespaced
// policy may also carry the form of the names Calico gives the policies it
// converts ("knp.default.<name>" for a Kubernetes NetworkPolicy,
// "ossg.default.<name>"); a global policy may not.
var (
	labelFmt              = `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
	subdomainFmt          = labelFmt + `(\.` + labelFmt + `)*`
	policyNameRegex       = regexp.MustCompile(`^(` + labelFmt + `(\.` + labelFmt + `)?|(knp|ossg)\.default\.` + subdomainFmt + `)$`)
	globalPolicyNameRegex = regexp.MustCompile(`^(` + labelFmt + `\.)?` + labelFmt + `$`)
)

// validatePolicyMeta checks a policy's metadata and its name rule.
func validatePolicyMeta(m *metav1.ObjectMeta, namespaced bool) field.ErrorList {
	errs := validateMeta(m, namespaced, subdomainName)
	if len(apivalidation.NameIsDNSSubdomain(m.Name, false)) > 0 {
		return errs // already reported
	}
	np := metaPath.Child("name")
	if namespaced && !policyNameRegex.MatchString(m.Name) {
		errs = append(errs, field.Invalid(np, m.Name, `a policy name must be a DNS-1123 label (lower-case letters, digits and '-'), optionally prefixed with its tier and one dot, e.g. "allow-dns" or "security.allow-dns"`))
	}
	if !namespaced && !globalPolicyNameRegex.MatchString(m.Name) {
		msg := `a global policy name must be a DNS-1123 label (lower-case letters, digits and '-'), optionally prefixed with its tier and one dot, e.g. "allow-dns" or "security.allow-dns"`
		if strings.HasPrefix(m.Name, "knp.") || strings.HasPrefix(m.Name, "ossg.") {
			msg = `names starting with "knp." or "ossg." belong to policies converted from Kubernetes; ` + msg
		}
		errs = append(errs, field.Invalid(np, m.Name, msg))
	}
	return errs
}

// direction tells which list a rule is in: what a services match and an http
// match may be used with depends on it.
type direction int

const (
	dirNone direction = iota // a profile's rules: no direction rules
	dirIngress
	dirEgress
)

// commonPolicy holds the fields all Calico policy kinds share.
type commonPolicy struct {
	tier                   string
	order                  *float64
	ingress, egress        []v3.Rule
	selector               string
	types                  []v3.PolicyType
	serviceAccountSelector string
	hints                  []v3.PolicyPerformanceHint
	// global is set for GlobalNetworkPolicy and its staged form, whose
	// services matches must name a namespace.
	global bool
}

func validateCommonPolicy(c commonPolicy) field.ErrorList {
	var errs field.ErrorList
	if c.tier != "" {
		for _, msg := range apivalidation.NameIsDNSLabel(c.tier, false) {
			errs = append(errs, field.Invalid(tierPath, c.tier, "must be the name of a tier: "+msg))
		}
	}
	errs = append(errs, validateOrder(specPath.Child("order"), c.order)...)
	errs = append(errs, validateSelector(specPath.Child("selector"), c.selector, false)...)
	errs = append(errs, validateSelector(specPath.Child("serviceAccountSelector"), c.serviceAccountSelector, false)...)

	// Types need not agree with the rules: a policy may list rules for a
	// direction it does not (yet) apply to, as during an upgrade from policies
	// written before types existed.
	typesPath := specPath.Child("types")
	seen := map[v3.PolicyType]bool{}
	if len(c.types) > 2 {
		errs = append(errs, field.TooMany(typesPath, len(c.types), 2))
	}
	for i, t := range c.types {
		errs = append(errs, oneOf(typesPath.Index(i), t, false, v3.PolicyTypeIngress, v3.PolicyTypeEgress)...)
		if seen[t] {
			errs = append(errs, field.Duplicate(typesPath.Index(i), t))
		}
		seen[t] = true
	}
	hintPath := specPath.Child("performanceHints")
	seenHint := map[v3.PolicyPerformanceHint]bool{}
	for i, h := range c.hints {
		errs = append(errs, oneOf(hintPath.Index(i), h, false, v3.PerfHintAssumeNeededOnEveryNode)...)
		if seenHint[h] {
			errs = append(errs, field.Duplicate(hintPath.Index(i), h))
		}
		seenHint[h] = true
	}
	errs = append(errs, validateRules(specPath.Child("ingress"), c.ingress, dirIngress, c.global)...)
	errs = append(errs, validateRules(specPath.Child("egress"), c.egress, dirEgress, c.global)...)
	return errs
}

func validateNetworkPolicy(p *v3.NetworkPolicy) field.ErrorList {
	s := p.Spec
	errs := validatePolicyMeta(&p.ObjectMeta, true)
	return append(errs, validateCommonPolicy(commonPolicy{s.Tier, s.Order, s.Ingress, s.Egress, s.Selector, s.Types, s.ServiceAccountSelector, s.PerformanceHints, false})...)
}

func validateStagedNetworkPolicy(p *v3.StagedNetworkPolicy) field.ErrorList {
	s := p.Spec
	errs := validatePolicyMeta(&p.ObjectMeta, true)
	errs = append(errs, validateStagedAction(s.StagedAction)...)
	if s.StagedAction == v3.StagedActionDelete {
		errs = append(errs, stagedDeleteFields(stagedSet{
			"order": s.Order != nil, "selector": s.Selector != "", "serviceAccountSelector": s.ServiceAccountSelector != "",
			"ingress": len(s.Ingress) > 0, "egress": len(s.Egress) > 0, "performanceHints": len(s.PerformanceHints) > 0,
			"types": !defaultedTypes(s.Types),
		})...)
	}
	return append(errs, validateCommonPolicy(commonPolicy{s.Tier, s.Order, s.Ingress, s.Egress, s.Selector, s.Types, s.ServiceAccountSelector, s.PerformanceHints, false})...)
}

func validateGlobalNetworkPolicy(p *v3.GlobalNetworkPolicy) field.ErrorList {
	s := p.Spec
	errs := validatePolicyMeta(&p.ObjectMeta, false)
	errs = append(errs, validateCommonPolicy(commonPolicy{s.Tier, s.Order, s.Ingress, s.Egress, s.Selector, s.Types, s.ServiceAccountSelector, s.PerformanceHints, true})...)
	errs = append(errs, validateSelector(specPath.Child("namespaceSelector"), s.NamespaceSelector, false)...)
	return append(errs, validateHostPolicyFlags(s.DoNotTrack, s.PreDNAT, s.ApplyOnForward, s.Egress, s.Types)...)
}

func validateStagedGlobalNetworkPolicy(p *v3.StagedGlobalNetworkPolicy) field.ErrorList {
	s := p.Spec
	errs := validatePolicyMeta(&p.ObjectMeta, false)
	errs = append(errs, validateStagedAction(s.StagedAction)...)
	if s.StagedAction == v3.StagedActionDelete {
		errs = append(errs, stagedDeleteFields(stagedSet{
			"order": s.Order != nil, "selector": s.Selector != "", "serviceAccountSelector": s.ServiceAccountSelector != "",
			"namespaceSelector": s.NamespaceSelector != "", "ingress": len(s.Ingress) > 0, "egress": len(s.Egress) > 0,
			"performanceHints": len(s.PerformanceHints) > 0, "doNotTrack": s.DoNotTrack, "preDNAT": s.PreDNAT,
			"applyOnForward": s.ApplyOnForward, "types": !defaultedTypes(s.Types),
		})...)
	}
	errs = append(errs, validateCommonPolicy(commonPolicy{s.Tier, s.Order, s.Ingress, s.Egress, s.Selector, s.Types, s.ServiceAccountSelector, s.PerformanceHints, true})...)
	errs = append(errs, validateSelector(specPath.Child("namespaceSelector"), s.NamespaceSelector, false)...)
	return append(errs, validateHostPolicyFlags(s.DoNotTrack, s.PreDNAT, s.ApplyOnForward, s.Egress, s.Types)...)
}

func validateStagedAction(a v3.StagedAction) field.ErrorList {
	return oneOf(specPath.Child("stagedAction"), a, true, v3.StagedActionSet, v3.StagedActionDelete, v3.StagedActionLearn, v3.StagedActionIgnore)
}

// stagedSet tells, by field name, which spec fields are set.
type stagedSet map[string]bool

// stagedDeleteFields refuses every set field: a staged Delete only names the
// enforced policy (and its tier) whose removal it stages.
func stagedDeleteFields(set stagedSet) field.ErrorList {
	var names []string
	for n, isSet := range set {
		if isSet {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var errs field.ErrorList
	for _, n := range names {
		errs = append(errs, field.Forbidden(specPath.Child(n), "must be empty when stagedAction is Delete: a staged Delete only names the policy it would remove"))
	}
	return errs
}

// defaultedTypes reports whether policy types are what v3.Default gives a
// policy without rules (or none at all), so that a staged Delete, which has
// no rules, is not refused for the types defaulting added.
func defaultedTypes(types []v3.PolicyType) bool {
	return len(types) == 0 || len(types) == 1 && types[0] == v3.PolicyTypeIngress
}

// validateHostPolicyFlags checks doNotTrack, preDNAT and applyOnForward.
func validateHostPolicyFlags(doNotTrack, preDNAT, applyOnForward bool, egress []v3.Rule, types []v3.PolicyType) field.ErrorList {
	var errs field.ErrorList
	if doNotTrack && preDNAT {
		errs = append(errs, field.Forbidden(specPath.Child("preDNAT"), "preDNAT and doNotTrack cannot both be true"))
	}
	if (doNotTrack || preDNAT) && !applyOnForward {
		errs = append(errs, field.Invalid(specPath.Child("applyOnForward"), applyOnForward, "must be true when preDNAT or doNotTrack is true"))
	}
	if preDNAT {
		if len(egress) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("egress"), "a preDNAT policy applies to ingress only and cannot have egress rules"))
		}
		for i, t := range types {
			if t == v3.PolicyTypeEgress {
				errs = append(errs, field.Forbidden(specPath.Child("types").Index(i), "a preDNAT policy applies to ingress only; use types [Ingress]"))
			}
		}
	}
	return errs
}

func validateRules(p *field.Path, rules []v3.Rule, dir direction, global bool) field.ErrorList {
	var errs field.ErrorList
	if len(rules) > maxRules {
		errs = append(errs, field.TooMany(p, len(rules), maxRules))
	}
	for i := range rules {
		errs = append(errs, validateRule(p.Index(i), &rules[i], dir, global)...)
	}
	return errs
}

func validateRule(p *field.Path, r *v3.Rule, dir direction, global bool) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, oneOf(p.Child("action"), r.Action, false, v3.Allow, v3.Deny, v3.Log, v3.Pass)...)
	if r.IPVersion != nil && *r.IPVersion != 4 && *r.IPVersion != 6 {
		errs = append(errs, field.Invalid(p.Child("ipVersion"), *r.IPVersion, "must be 4 or 6"))
	}
	for _, np := range []struct {
		name  string
		proto *v3.Protocol
	}{{"protocol", r.Protocol}, {"notProtocol", r.NotProtocol}} {
		name, proto := np.name, np.proto
		if proto == nil {
			continue
		}
		pp := p.Child(name)
		if err := proto.Validate(); err != nil {
			errs = append(errs, field.Invalid(pp, proto.String(), err.Error()))
			continue
		}
		if r.IPVersion != nil {
			if proto.IsICMP() && *r.IPVersion != 4 {
				errs = append(errs, field.Invalid(p.Child("ipVersion"), *r.IPVersion, fmt.Sprintf("%s %s requires ipVersion 4 (use ICMPv6 for IPv6)", name, proto)))
			}
			if proto.IsICMPv6() && *r.IPVersion != 6 {
				errs = append(errs, field.Invalid(p.Child("ipVersion"), *r.IPVersion, fmt.Sprintf("%s %s requires ipVersion 6 (use ICMP for IPv4)", name, proto)))
			}
		}
	}
	icmpProto := r.Protocol != nil && r.Protocol.Validate() == nil && (r.Protocol.IsICMP() || r.Protocol.IsICMPv6())
	for _, ni := range []struct {
		name string
		ic   *v3.ICMPFields
	}{{"icmp", r.ICMP}, {"notICMP", r.NotICMP}} {
		name, ic := ni.name, ni.ic
		if ic == nil {
			continue
		}
		ip := p.Child(name)
		if !icmpProto {
			errs = append(errs, field.Invalid(ip, "", name+" requires protocol ICMP or ICMPv6 (or 1 or 58)"))
		}
		if ic.Type != nil && (*ic.Type < 0 || *ic.Type > 254) {
			errs = append(errs, field.Invalid(ip.Child("type"), *ic.Type, "must be an ICMP type 0-254"))
		}
		if ic.Code != nil {
			if *ic.Code < 0 || *ic.Code > 255 {
				errs = append(errs, field.Invalid(ip.Child("code"), *ic.Code, "must be an ICMP code 0-255"))
			}
			if ic.Type == nil {
				errs = append(errs, field.Required(ip.Child("type"), "an ICMP code needs an ICMP type"))
			}
		}
	}
	if r.Metadata != nil {
		errs = append(errs, apivalidation.ValidateAnnotations(r.Metadata.Annotations, p.Child("metadata", "annotations"))...)
	}

	srcErrs, srcFams := validateEntityRule(p.Child("source"), &r.Source, r)
	dstErrs, dstFams := validateEntityRule(p.Child("destination"), &r.Destination, r)
	errs = append(errs, srcErrs...)
	errs = append(errs, dstErrs...)
	errs = append(errs, validateRuleFamilies(p, r, srcFams, dstFams)...)

	if r.Destination.Services != nil && (len(r.Destination.Ports) > 0 || len(r.Destination.NotPorts) > 0) {
		errs = append(errs, field.Forbidden(p.Child("destination", "ports"), "destination ports and notPorts cannot be combined with destination services: the service's own ports are used"))
	}
	// A services match selects the service's endpoints as peers: the
	// sources of ingress traffic, the destinations of egress traffic.
	switch dir {
	case dirIngress:
		if r.Destination.Services != nil {
			errs = append(errs, field.Forbidden(p.Child("destination", "services"), "not allowed in ingress rules: a services match selects peers, so in an ingress rule it belongs in source"))
		}
		if global && r.Source.Services != nil && r.Source.Services.Namespace == "" {
			errs = append(errs, field.Required(p.Child("source", "services", "namespace"), "a global policy has no namespace of its own: give the service's namespace"))
		}
	case dirEgress:
		if r.Source.Services != nil {
			errs = append(errs, field.Forbidden(p.Child("source", "services"), "not allowed in egress rules: a services match selects peers, so in an egress rule it belongs in destination"))
		}
		if global && r.Destination.Services != nil && r.Destination.Services.Namespace == "" {
			errs = append(errs, field.Required(p.Child("destination", "services", "namespace"), "a global policy has no namespace of its own: give the service's namespace"))
		}
	}

	if r.HTTP != nil {
		errs = append(errs, validateHTTP(p, r, dir)...)
	}
	errs = append(errs, validateRuleDomains(p, r, dir)...)
	return errs
}

// validateRuleDomains: domains name where egress traffic may go. Their
// addresses are learned from DNS answers to allow that traffic, so they
// belong only in the destination of an egress Allow rule.
func validateRuleDomains(p *field.Path, r *v3.Rule, dir direction) field.ErrorList {
	var errs field.ErrorList
	if len(r.Source.Domains) > 0 {
		errs = append(errs, field.Forbidden(p.Child("source", "domains"), "domains name destinations: put them in the destination of an egress rule"))
	}
	if len(r.Destination.Domains) == 0 {
		return errs
	}
	dp := p.Child("destination", "domains")
	if dir == dirIngress {
		errs = append(errs, field.Forbidden(dp, "not allowed in ingress rules: domains name where egress traffic may go"))
	}
	if r.Action != v3.Allow {
		errs = append(errs, field.Forbidden(dp, fmt.Sprintf("only in Allow rules, not %s: a domain's addresses are learned from DNS to allow traffic to them", r.Action)))
	}
	return append(errs, validateDomains(dp, r.Destination.Domains)...)
}

// validateDomains checks domain names and wildcards (internal/domainname).
func validateDomains(p *field.Path, domains []string) field.ErrorList {
	var errs field.ErrorList
	for i, d := range domains {
		if _, err := domainname.Parse(d); err != nil {
			errs = append(errs, field.Invalid(p.Index(i), d, err.Error()))
		}
	}
	return errs
}

// validateRuleFamilies checks that a rule's nets are of one IP version, and
// the version its ipVersion or ICMP protocol implies.
func validateRuleFamilies(p *field.Path, r *v3.Rule, srcFams, dstFams map[int]bool) field.ErrorList {
	ruleFamily, familyFrom := 0, ""
	switch {
	case r.IPVersion != nil && (*r.IPVersion == 4 || *r.IPVersion == 6):
		ruleFamily, familyFrom = *r.IPVersion, "ipVersion"
	case r.Protocol != nil && r.Protocol.IsICMP():
		ruleFamily, familyFrom = 4, "protocol ICMP"
	case r.Protocol != nil && r.Protocol.IsICMPv6():
		ruleFamily, familyFrom = 6, "protocol ICMPv6"
	}
	var errs field.ErrorList
	if ruleFamily != 0 {
		for _, sf := range []struct {
			side string
			fams map[int]bool
		}{{"source", srcFams}, {"destination", dstFams}} {
			for _, f := range []int{4, 6} {
				if sf.fams[f] && f != ruleFamily {
					errs = append(errs, field.Invalid(p.Child(sf.side), fmt.Sprintf("IPv%d nets", f),
						fmt.Sprintf("the rule is IPv%d only (%s) but matches IPv%d addresses; use IPv%d CIDRs or split the rule", ruleFamily, familyFrom, f, ruleFamily)))
				}
			}
		}
		return errs
	}
	if (srcFams[4] || dstFams[4]) && (srcFams[6] || dstFams[6]) {
		errs = append(errs, field.Invalid(p, "IPv4 and IPv6 nets", "a rule's nets and notNets must all be of one IP version; split it into an IPv4 rule and an IPv6 rule"))
	}
	return errs
}

// validateHTTP checks a rule's http match. Any action may carry one (this
// dataplane enforces the rule's L3/L4 part only; see Warnings).
func validateHTTP(p *field.Path, r *v3.Rule, dir direction) field.ErrorList {
	var errs field.ErrorList
	hp := p.Child("http")
	if dir == dirEgress {
		errs = append(errs, field.Forbidden(hp, "not allowed in egress rules: an http match applies to the requests the selected endpoints receive; move it to an ingress rule"))
	}
	if r.Protocol != nil && !r.Protocol.IsTCP() {
		errs = append(errs, field.Invalid(p.Child("protocol"), r.Protocol.String(), "rules with an http match must have protocol TCP or no protocol"))
	}
	mp := hp.Child("methods")
	if len(r.HTTP.Methods) > 20 {
		errs = append(errs, field.TooMany(mp, len(r.HTTP.Methods), 20))
	}
	seen := map[string]bool{}
	for i, m := range r.HTTP.Methods {
		if m == "" {
			errs = append(errs, field.Required(mp.Index(i), "an HTTP method such as GET"))
		}
		if seen[m] {
			errs = append(errs, field.Duplicate(mp.Index(i), m))
		}
		seen[m] = true
	}
	if len(r.HTTP.Paths) > 20 {
		errs = append(errs, field.TooMany(hp.Child("paths"), len(r.HTTP.Paths), 20))
	}
	for i, hpath := range r.HTTP.Paths {
		pp := hp.Child("paths").Index(i)
		if (hpath.Exact == "") == (hpath.Prefix == "") {
			errs = append(errs, field.Invalid(pp, hpath, "give exactly one of exact or prefix"))
		}
		for _, v := range []struct {
			name, path string
		}{{"exact", hpath.Exact}, {"prefix", hpath.Prefix}} {
			if v.path == "" {
				continue
			}
			if len(v.path) > 1024 {
				errs = append(errs, field.TooLong(pp.Child(v.name), "", 1024))
			} else if !strings.HasPrefix(v.path, "/") || strings.ContainsAny(v.path, "?# ") {
				errs = append(errs, field.Invalid(pp.Child(v.name), v.path, `must be a URL path: start with "/" and contain no "?", "#" or space`))
			}
		}
	}
	return errs
}

// validateEntityRule checks one side of a rule and returns the IP families of
// its nets and notNets.
func validateEntityRule(p *field.Path, e *v3.EntityRule, r *v3.Rule) (field.ErrorList, map[int]bool) {
	var errs field.ErrorList
	netErrs, fams := validateRuleNets(p.Child("nets"), e.Nets, false)
	errs = append(errs, netErrs...)
	notErrs, notFams := validateRuleNets(p.Child("notNets"), e.NotNets, true)
	errs = append(errs, notErrs...)
	for f := range notFams {
		fams[f] = true
	}
	errs = append(errs, validateSelector(p.Child("selector"), e.Selector, false)...)
	errs = append(errs, validateSelector(p.Child("notSelector"), e.NotSelector, false)...)
	errs = append(errs, validateNamespaceSelector(p.Child("namespaceSelector"), e.NamespaceSelector)...)

	for _, np := range []struct {
		name  string
		ports []v3.Port
	}{{"ports", e.Ports}, {"notPorts", e.NotPorts}} {
		name, ports := np.name, np.ports
		pp := p.Child(name)
		if len(ports) == 0 {
			continue
		}
		if len(ports) > maxPorts {
			errs = append(errs, field.TooMany(pp, len(ports), maxPorts))
		}
		numeric := false
		for i, port := range ports {
			errs = append(errs, validateRulePort(pp.Index(i), port)...)
			numeric = numeric || !port.IsNamed()
		}
		// Named ports are looked up on the endpoints, with their own
		// protocols; port numbers need the rule's protocol to mean anything.
		switch {
		case r.Protocol == nil && numeric:
			errs = append(errs, field.Invalid(pp, "", fmt.Sprintf("port numbers in %s need protocol TCP, UDP or SCTP (or 6, 17, 132); only named ports may be used without a protocol", name)))
		case r.Protocol != nil && !r.Protocol.SupportsPorts():
			errs = append(errs, field.Invalid(pp, "", fmt.Sprintf("%s need protocol TCP, UDP or SCTP (or 6, 17, 132); the rule has protocol %s", name, r.Protocol)))
		}
	}

	if sa := e.ServiceAccounts; sa != nil {
		sp := p.Child("serviceAccounts")
		errs = append(errs, validateSelector(sp.Child("selector"), sa.Selector, false)...)
		for i, n := range sa.Names {
			for _, msg := range apivalidation.NameIsDNSSubdomain(n, false) {
				errs = append(errs, field.Invalid(sp.Child("names").Index(i), n, "must be a service account name: "+msg))
			}
		}
	}

	if svc := e.Services; svc != nil {
		sp := p.Child("services")
		if svc.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), "the name of a Kubernetes Service"))
		} else {
			for _, msg := range apivalidation.NameIsDNSSubdomain(svc.Name, false) {
				errs = append(errs, field.Invalid(sp.Child("name"), svc.Name, msg))
			}
		}
		if svc.Namespace != "" {
			for _, msg := range apivalidation.ValidateNamespaceName(svc.Namespace, false) {
				errs = append(errs, field.Invalid(sp.Child("namespace"), svc.Namespace, msg))
			}
		}
		var clash []string
		if e.Selector != "" {
			clash = append(clash, "selector")
		}
		if e.NotSelector != "" {
			clash = append(clash, "notSelector")
		}
		if e.NamespaceSelector != "" {
			clash = append(clash, "namespaceSelector")
		}
		if len(e.Nets) > 0 {
			clash = append(clash, "nets")
		}
		if len(e.NotNets) > 0 {
			clash = append(clash, "notNets")
		}
		if e.ServiceAccounts != nil {
			clash = append(clash, "serviceAccounts")
		}
		for _, c := range clash {
			errs = append(errs, field.Forbidden(p.Child(c), "cannot be combined with services; a services match selects the service's endpoints by itself"))
		}
	}
	return errs, fams
}

// validateRuleNets checks a rule's nets or notNets: addresses or strictly
// masked CIDRs. A notNets entry may not be a catch-all (0.0.0.0/0, ::/0):
// excluding every address would make the rule match nothing.
func validateRuleNets(p *field.Path, nets []string, negated bool) (field.ErrorList, map[int]bool) {
	var errs field.ErrorList
	fams := map[int]bool{}
	if len(nets) > maxNets {
		errs = append(errs, field.TooMany(p, len(nets), maxNets))
	}
	for i, n := range nets {
		pr, err := parseMaskedNet(n)
		if err != nil {
			errs = append(errs, field.Invalid(p.Index(i), n, err.Error()))
			continue
		}
		fams[family(pr)] = true
		if negated && pr.Bits() == 0 {
			errs = append(errs, field.Invalid(p.Index(i), n, "a catch-all CIDR in notNets excludes every address, so the rule could never match; remove it (or use a narrower range)"))
		}
	}
	return errs, fams
}

// validateRulePort checks one rule port: a number 1-65535, a range of them,
// or a Kubernetes port name.
func validateRulePort(p *field.Path, port v3.Port) field.ErrorList {
	if err := port.Validate(); err != nil {
		return field.ErrorList{field.Invalid(p, port.String(), err.Error())}
	}
	if port.IsNamed() {
		return validateK8sPortName(p, port.PortName)
	}
	if port.MinPort == 0 {
		return field.ErrorList{field.Invalid(p, port.String(), `port 0 is not a port; use a number 1-65535 or a range "min:max" within it`)}
	}
	return nil
}

// validateK8sPortName checks a port name as Kubernetes defines one (at most
// 15 lower-case letters, digits and '-', with a letter): Calico looks named
// ports up among the endpoints' ports, which carry such names.
func validateK8sPortName(p *field.Path, name string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range k8svalidation.IsValidPortName(name) {
		errs = append(errs, field.Invalid(p, name, "must be a port name as Kubernetes defines them: "+msg))
	}
	return errs
}

func validateStagedKubernetesNetworkPolicy(p *v3.StagedKubernetesNetworkPolicy) field.ErrorList {
	s := p.Spec
	errs := validateMeta(&p.ObjectMeta, true, subdomainName)
	errs = append(errs, validateStagedAction(s.StagedAction)...)
	if s.StagedAction == v3.StagedActionDelete {
		ps := s.PodSelector
		errs = append(errs, stagedDeleteFields(stagedSet{
			"podSelector": len(ps.MatchLabels) > 0 || len(ps.MatchExpressions) > 0,
			"ingress":     len(s.Ingress) > 0, "egress": len(s.Egress) > 0,
			"policyTypes": !(len(s.PolicyTypes) == 0 || len(s.PolicyTypes) == 1 && s.PolicyTypes[0] == networkingv1.PolicyTypeIngress),
		})...)
	}
	opts := metav1validation.LabelSelectorValidationOptions{}
	errs = append(errs, metav1validation.ValidateLabelSelector(&s.PodSelector, opts, specPath.Child("podSelector"))...)
	tp := specPath.Child("policyTypes")
	seen := map[networkingv1.PolicyType]bool{}
	for i, t := range s.PolicyTypes {
		errs = append(errs, oneOf(tp.Index(i), t, false, networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)...)
		if seen[t] {
			errs = append(errs, field.Duplicate(tp.Index(i), t))
		}
		seen[t] = true
	}
	for i, r := range s.Ingress {
		rp := specPath.Child("ingress").Index(i)
		errs = append(errs, validateK8sPorts(rp.Child("ports"), r.Ports)...)
		for j := range r.From {
			errs = append(errs, validateK8sPeer(rp.Child("from").Index(j), &r.From[j], opts)...)
		}
	}
	for i, r := range s.Egress {
		rp := specPath.Child("egress").Index(i)
		errs = append(errs, validateK8sPorts(rp.Child("ports"), r.Ports)...)
		for j := range r.To {
			errs = append(errs, validateK8sPeer(rp.Child("to").Index(j), &r.To[j], opts)...)
		}
	}
	return errs
}

func validateK8sPorts(p *field.Path, ports []networkingv1.NetworkPolicyPort) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		pp := p.Index(i)
		if port.Protocol != nil {
			errs = append(errs, oneOf(pp.Child("protocol"), string(*port.Protocol), false, "TCP", "UDP", "SCTP")...)
		}
		if port.Port != nil && port.Port.IntVal != 0 && (port.Port.IntVal < 1 || port.Port.IntVal > 65535) {
			errs = append(errs, field.Invalid(pp.Child("port"), port.Port.IntVal, "must be a port number 1-65535"))
		}
		if port.EndPort != nil {
			if port.Port == nil || port.Port.StrVal != "" {
				errs = append(errs, field.Invalid(pp.Child("endPort"), *port.EndPort, "endPort needs a numeric port"))
			} else if *port.EndPort < port.Port.IntVal || *port.EndPort > 65535 {
				errs = append(errs, field.Invalid(pp.Child("endPort"), *port.EndPort, "must be between port and 65535"))
			}
		}
	}
	return errs
}

func validateK8sPeer(p *field.Path, peer *networkingv1.NetworkPolicyPeer, opts metav1validation.LabelSelectorValidationOptions) field.ErrorList {
	var errs field.ErrorList
	if peer.PodSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(peer.PodSelector, opts, p.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(peer.NamespaceSelector, opts, p.Child("namespaceSelector"))...)
	}
	if b := peer.IPBlock; b != nil {
		bp := p.Child("ipBlock")
		if peer.PodSelector != nil || peer.NamespaceSelector != nil {
			errs = append(errs, field.Forbidden(bp, "ipBlock cannot be combined with podSelector or namespaceSelector"))
		}
		cidr, err := netip.ParsePrefix(b.CIDR)
		if err != nil {
			errs = append(errs, field.Invalid(bp.Child("cidr"), b.CIDR, "must be a CIDR, e.g. 10.0.0.0/8"))
		}
		for i, ex := range b.Except {
			e, err := netip.ParsePrefix(ex)
			switch {
			case err != nil:
				errs = append(errs, field.Invalid(bp.Child("except").Index(i), ex, "must be a CIDR, e.g. 10.1.0.0/16"))
			case cidr.IsValid() && (!cidr.Contains(e.Addr()) || e.Bits() < cidr.Bits()):
				errs = append(errs, field.Invalid(bp.Child("except").Index(i), ex, "must lie inside cidr "+b.CIDR))
			}
		}
	} else if peer.PodSelector == nil && peer.NamespaceSelector == nil {
		errs = append(errs, field.Required(p, "give podSelector, namespaceSelector or ipBlock"))
	}
	return errs
}
