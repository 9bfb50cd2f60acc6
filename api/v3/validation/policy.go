package validation

import (
	"fmt"
	"net/netip"

	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
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

// commonPolicy holds the fields all Calico policy kinds share.
type commonPolicy struct {
	tier                   string
	order                  *float64
	ingress, egress        []v3.Rule
	selector               string
	types                  []v3.PolicyType
	serviceAccountSelector string
	hints                  []v3.PolicyPerformanceHint
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
	if len(c.types) > 0 {
		if len(c.ingress) > 0 && !seen[v3.PolicyTypeIngress] {
			errs = append(errs, field.Invalid(typesPath, c.types, "the policy has ingress rules, so types must include Ingress (or remove the ingress rules)"))
		}
		if len(c.egress) > 0 && !seen[v3.PolicyTypeEgress] {
			errs = append(errs, field.Invalid(typesPath, c.types, "the policy has egress rules, so types must include Egress (or remove the egress rules)"))
		}
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
	errs = append(errs, validateRules(specPath.Child("ingress"), c.ingress)...)
	errs = append(errs, validateRules(specPath.Child("egress"), c.egress)...)
	return errs
}

func validateNetworkPolicy(p *v3.NetworkPolicy) field.ErrorList {
	s := p.Spec
	errs := validateMeta(&p.ObjectMeta, true, subdomainName)
	return append(errs, validateCommonPolicy(commonPolicy{s.Tier, s.Order, s.Ingress, s.Egress, s.Selector, s.Types, s.ServiceAccountSelector, s.PerformanceHints})...)
}

func validateStagedNetworkPolicy(p *v3.StagedNetworkPolicy) field.ErrorList {
	s := p.Spec
	errs := validateMeta(&p.ObjectMeta, true, subdomainName)
	errs = append(errs, validateStagedAction(s.StagedAction)...)
	return append(errs, validateCommonPolicy(commonPolicy{s.Tier, s.Order, s.Ingress, s.Egress, s.Selector, s.Types, s.ServiceAccountSelector, s.PerformanceHints})...)
}

func validateGlobalNetworkPolicy(p *v3.GlobalNetworkPolicy) field.ErrorList {
	s := p.Spec
	errs := validateMeta(&p.ObjectMeta, false, subdomainName)
	errs = append(errs, validateCommonPolicy(commonPolicy{s.Tier, s.Order, s.Ingress, s.Egress, s.Selector, s.Types, s.ServiceAccountSelector, s.PerformanceHints})...)
	errs = append(errs, validateSelector(specPath.Child("namespaceSelector"), s.NamespaceSelector, false)...)
	return append(errs, validateHostPolicyFlags(s.DoNotTrack, s.PreDNAT, s.ApplyOnForward, s.Egress, s.Types)...)
}

func validateStagedGlobalNetworkPolicy(p *v3.StagedGlobalNetworkPolicy) field.ErrorList {
	s := p.Spec
	errs := validateMeta(&p.ObjectMeta, false, subdomainName)
	errs = append(errs, validateStagedAction(s.StagedAction)...)
	errs = append(errs, validateCommonPolicy(commonPolicy{s.Tier, s.Order, s.Ingress, s.Egress, s.Selector, s.Types, s.ServiceAccountSelector, s.PerformanceHints})...)
	errs = append(errs, validateSelector(specPath.Child("namespaceSelector"), s.NamespaceSelector, false)...)
	return append(errs, validateHostPolicyFlags(s.DoNotTrack, s.PreDNAT, s.ApplyOnForward, s.Egress, s.Types)...)
}

func validateStagedAction(a v3.StagedAction) field.ErrorList {
	return oneOf(specPath.Child("stagedAction"), a, true, v3.StagedActionSet, v3.StagedActionDelete, v3.StagedActionLearn, v3.StagedActionIgnore)
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

func validateRules(p *field.Path, rules []v3.Rule) field.ErrorList {
	var errs field.ErrorList
	if len(rules) > maxRules {
		errs = append(errs, field.TooMany(p, len(rules), maxRules))
	}
	for i := range rules {
		errs = append(errs, validateRule(p.Index(i), &rules[i])...)
	}
	return errs
}

func validateRule(p *field.Path, r *v3.Rule) field.ErrorList {
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

	// The rule's IP version, from ipVersion or from an ICMP protocol, must agree
	// with the families of its nets.
	ruleFamily, familyFrom := 0, ""
	switch {
	case r.IPVersion != nil && (*r.IPVersion == 4 || *r.IPVersion == 6):
		ruleFamily, familyFrom = *r.IPVersion, "ipVersion"
	case r.Protocol != nil && r.Protocol.IsICMP():
		ruleFamily, familyFrom = 4, "protocol ICMP"
	case r.Protocol != nil && r.Protocol.IsICMPv6():
		ruleFamily, familyFrom = 6, "protocol ICMPv6"
	}
	srcErrs, srcFams := validateEntityRule(p.Child("source"), &r.Source, r)
	dstErrs, dstFams := validateEntityRule(p.Child("destination"), &r.Destination, r)
	errs = append(errs, srcErrs...)
	errs = append(errs, dstErrs...)
	if ruleFamily != 0 {
		for _, sf := range []struct {
			side string
			fams map[int]bool
		}{{"source", srcFams}, {"destination", dstFams}} {
			side := sf.side
			for _, f := range []int{4, 6} {
				if sf.fams[f] && f != ruleFamily {
					errs = append(errs, field.Invalid(p.Child(side), fmt.Sprintf("IPv%d nets", f),
						fmt.Sprintf("the rule is IPv%d only (%s) but matches IPv%d addresses; use IPv%d CIDRs or split the rule", ruleFamily, familyFrom, f, ruleFamily)))
				}
			}
		}
	} else if (srcFams[4] && !srcFams[6] && dstFams[6] && !dstFams[4]) || (srcFams[6] && !srcFams[4] && dstFams[4] && !dstFams[6]) {
		errs = append(errs, field.Invalid(p, "", "source and destination nets are of different IP versions, so the rule can never match"))
	}

	if r.Destination.Services != nil && (len(r.Destination.Ports) > 0 || len(r.Destination.NotPorts) > 0) {
		errs = append(errs, field.Forbidden(p.Child("destination", "ports"), "destination ports and notPorts cannot be combined with destination services: the service's own ports are used"))
	}

	if r.HTTP != nil {
		hp := p.Child("http")
		if r.Action != v3.Allow {
			errs = append(errs, field.Forbidden(hp, "an http match is only valid on Allow rules"))
		}
		if r.Protocol != nil && !r.Protocol.IsTCP() {
			errs = append(errs, field.Invalid(p.Child("protocol"), r.Protocol.String(), "rules with an http match must have protocol TCP or no protocol"))
		}
		if len(r.HTTP.Methods) > 20 {
			errs = append(errs, field.TooMany(hp.Child("methods"), len(r.HTTP.Methods), 20))
		}
		for i, m := range r.HTTP.Methods {
			if m == "" {
				errs = append(errs, field.Required(hp.Child("methods").Index(i), "an HTTP method such as GET"))
			}
		}
		if len(r.HTTP.Paths) > 20 {
			errs = append(errs, field.TooMany(hp.Child("paths"), len(r.HTTP.Paths), 20))
		}
		for i, hpath := range r.HTTP.Paths {
			pp := hp.Child("paths").Index(i)
			if (hpath.Exact == "") == (hpath.Prefix == "") {
				errs = append(errs, field.Invalid(pp, hpath, "give exactly one of exact or prefix"))
			}
			if len(hpath.Exact) > 1024 {
				errs = append(errs, field.TooLong(pp.Child("exact"), "", 1024))
			}
			if len(hpath.Prefix) > 1024 {
				errs = append(errs, field.TooLong(pp.Child("prefix"), "", 1024))
			}
		}
	}
	return errs
}

// validateEntityRule checks one side of a rule and returns the IP families of
// its nets and notNets.
func validateEntityRule(p *field.Path, e *v3.EntityRule, r *v3.Rule) (field.ErrorList, map[int]bool) {
	var errs field.ErrorList
	netErrs, fams := validateNets(p.Child("nets"), e.Nets, true, maxNets)
	errs = append(errs, netErrs...)
	notErrs, notFams := validateNets(p.Child("notNets"), e.NotNets, true, maxNets)
	errs = append(errs, notErrs...)
	for f := range notFams {
		fams[f] = true
	}
	errs = append(errs, validateSelector(p.Child("selector"), e.Selector, false)...)
	errs = append(errs, validateSelector(p.Child("notSelector"), e.NotSelector, false)...)
	errs = append(errs, validateSelector(p.Child("namespaceSelector"), e.NamespaceSelector, true)...)

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
		for i, port := range ports {
			if err := port.Validate(); err != nil {
				errs = append(errs, field.Invalid(pp.Index(i), port.String(), err.Error()))
			}
		}
		if r.Protocol == nil || !r.Protocol.SupportsPorts() {
			got := "no protocol"
			if r.Protocol != nil {
				got = "protocol " + r.Protocol.String()
			}
			errs = append(errs, field.Invalid(pp, "", fmt.Sprintf("%s need protocol TCP, UDP or SCTP (or 6, 17, 132); the rule has %s", name, got)))
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

func validateStagedKubernetesNetworkPolicy(p *v3.StagedKubernetesNetworkPolicy) field.ErrorList {
	s := p.Spec
	errs := validateMeta(&p.ObjectMeta, true, subdomainName)
	errs = append(errs, validateStagedAction(s.StagedAction)...)
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
