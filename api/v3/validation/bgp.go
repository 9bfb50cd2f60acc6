package validation

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
)

var logLevels = []string{"Trace", "Debug", "Info", "Warning", "Error", "Fatal"}

func validateBGPConfiguration(c *v3.BGPConfiguration) field.ErrorList {
	errs := validateMeta(&c.ObjectMeta, false, subdomainName)
	s := c.Spec
	errs = append(errs, oneOfFold(specPath.Child("logSeverityScreen"), s.LogSeverityScreen, logLevels...)...)
	// Service address blocks, like BGP advertisements, are addresses or
	// CIDRs written as their network address.
	for _, blocks := range []struct {
		name  string
		cidrs []string
	}{{"serviceClusterIPs", serviceCIDRs(s.ServiceClusterIPs)}, {"serviceExternalIPs", serviceCIDRs(s.ServiceExternalIPs)}, {"serviceLoadBalancerIPs", serviceCIDRs(s.ServiceLoadBalancerIPs)}} {
		for i, c := range blocks.cidrs {
			errs = append(errs, validateAdvertisedNet(specPath.Child(blocks.name).Index(i).Child("cidr"), c)...)
		}
	}
	if s.ServiceLoadBalancerAggregation != nil {
		errs = append(errs, oneOf(specPath.Child("serviceLoadBalancerAggregation"), *s.ServiceLoadBalancerAggregation, false, v3.Enabled, v3.Disabled)...)
	}
	names := map[string]bool{}
	if len(s.Communities) > 500 {
		errs = append(errs, field.TooMany(specPath.Child("communities"), len(s.Communities), 500))
	}
	for i, cm := range s.Communities {
		cp := specPath.Child("communities").Index(i)
		if cm.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), "a name that prefixAdvertisements can refer to"))
		} else {
			for _, msg := range apivalidation.NameIsDNSSubdomain(cm.Name, false) {
				errs = append(errs, field.Invalid(cp.Child("name"), cm.Name, msg))
			}
		}
		if names[cm.Name] {
			errs = append(errs, field.Duplicate(cp.Child("name"), cm.Name))
		}
		names[cm.Name] = true
		if cm.Value == "" {
			errs = append(errs, field.Required(cp.Child("value"), "a community: aa:nn or aa:nn:mm"))
		} else if err := validateCommunity(cm.Value); err != nil {
			errs = append(errs, field.Invalid(cp.Child("value"), cm.Value, err.Error()))
		}
	}
	if len(s.Communities) > 0 && len(s.PrefixAdvertisements) == 0 {
		errs = append(errs, field.Required(specPath.Child("prefixAdvertisements"), "communities are only used through prefixAdvertisements: add the prefixes to advertise with them, or remove communities"))
	}
	if len(s.PrefixAdvertisements) > 500 {
		errs = append(errs, field.TooMany(specPath.Child("prefixAdvertisements"), len(s.PrefixAdvertisements), 500))
	}
	for i, pa := range s.PrefixAdvertisements {
		pp := specPath.Child("prefixAdvertisements").Index(i)
		if pa.CIDR == "" {
			errs = append(errs, field.Required(pp.Child("cidr"), "the prefix to advertise, e.g. 192.0.2.0/24"))
		} else {
			errs = append(errs, validateAdvertisedNet(pp.Child("cidr"), pa.CIDR)...)
		}
		if len(pa.Communities) == 0 {
			errs = append(errs, field.Required(pp.Child("communities"), "the communities to advertise the prefix with: values (aa:nn, aa:nn:mm) or names from spec.communities"))
		}
		for j, cm := range pa.Communities {
			if names[cm] {
				continue
			}
			if err := validateCommunity(cm); err != nil {
				errs = append(errs, field.Invalid(pp.Child("communities").Index(j), cm,
					"must be the name of an entry of spec.communities or a community value: "+err.Error()))
			}
		}
	}
	meshDisabled := s.NodeToNodeMeshEnabled != nil && !*s.NodeToNodeMeshEnabled
	if s.NodeMeshPassword != nil {
		if meshDisabled {
			errs = append(errs, field.Forbidden(specPath.Child("nodeMeshPassword"), "cannot be set when nodeToNodeMeshEnabled is false"))
		}
		errs = append(errs, validatePassword(specPath.Child("nodeMeshPassword"), s.NodeMeshPassword)...)
	}
	if s.NodeMeshMaxRestartTime != nil {
		if meshDisabled {
			errs = append(errs, field.Forbidden(specPath.Child("nodeMeshMaxRestartTime"), "cannot be set when nodeToNodeMeshEnabled is false"))
		}
		if s.NodeMeshMaxRestartTime.Duration < 0 {
			errs = append(errs, field.Invalid(specPath.Child("nodeMeshMaxRestartTime"), s.NodeMeshMaxRestartTime.Duration.String(), "must not be negative"))
		}
	}
	if s.BindMode != nil {
		errs = append(errs, oneOf(specPath.Child("bindMode"), *s.BindMode, false, v3.BindModeNone, v3.BindModeNodeIP)...)
	}
	if s.LocalWorkloadPeeringIPV4 != "" {
		errs = append(errs, validateIP(specPath.Child("localWorkloadPeeringIPV4"), s.LocalWorkloadPeeringIPV4, 4)...)
	}
	if s.LocalWorkloadPeeringIPV6 != "" {
		errs = append(errs, validateIP(specPath.Child("localWorkloadPeeringIPV6"), s.LocalWorkloadPeeringIPV6, 6)...)
	}
	if s.ProgramClusterRoutes != nil {
		errs = append(errs, oneOf(specPath.Child("programClusterRoutes"), *s.ProgramClusterRoutes, false, "Enabled", "Disabled", "EnabledIPIPOnly", "EnabledNoEncapOnly")...)
	}
	for i, ifc := range s.IgnoredInterfaces {
		if ifc == "*" || !bgpInterfaceRegex.MatchString(ifc) {
			errs = append(errs, field.Invalid(specPath.Child("ignoredInterfaces").Index(i), ifc, `must be an interface name or glob of 1-15 letters, digits, '*', '_', '.' or '-', such as docker*; "*" alone would ignore every interface`))
		}
	}
	for _, rp := range []struct {
		name string
		v    *int
	}{{"ipv4NormalRoutePriority", s.IPv4NormalRoutePriority}, {"ipv6NormalRoutePriority", s.IPv6NormalRoutePriority}} {
		if rp.v != nil && (*rp.v < 1 || *rp.v > 2147483646) {
			errs = append(errs, field.Invalid(specPath.Child(rp.name), *rp.v, "must be 1-2147483646"))
		}
	}
	return errs
}

// validateAdvertisedNet checks an address, or a CIDR written as its network
// address, e.g. 10.96.0.0/12.
func validateAdvertisedNet(p *field.Path, s string) field.ErrorList {
	if _, err := parseMaskedNet(s); err != nil {
		return field.ErrorList{field.Invalid(p, s, err.Error())}
	}
	return nil
}

// serviceCIDRs lists the CIDRs of service address blocks.
func serviceCIDRs[T v3.ServiceClusterIPBlock | v3.ServiceExternalIPBlock | v3.ServiceLoadBalancerIPBlock](blocks []T) []string {
	out := make([]string, len(blocks))
	for i, b := range blocks {
		out[i] = v3.ServiceClusterIPBlock(b).CIDR
	}
	return out
}

// validateCommunity checks "aa:nn" (16-bit parts) or "aa:nn:mm" (32-bit parts).
func validateCommunity(v string) error {
	parts := strings.Split(v, ":")
	bits := 0
	switch len(parts) {
	case 2:
		bits = 16
	case 3:
		bits = 32
	default:
		return fmt.Errorf("must be a standard community aa:nn (each part 0-65535) or a large community aa:nn:mm (each part 0-4294967295)")
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, bits); err != nil {
			return fmt.Errorf("must be a standard community aa:nn (each part 0-65535) or a large community aa:nn:mm (each part 0-4294967295)")
		}
	}
	return nil
}

// validatePassword checks a BGP password. Without a secretKeyRef there is no
// password (sessions are not authenticated), as in Calico.
func validatePassword(p *field.Path, pw *v3.BGPPassword) field.ErrorList {
	if pw.SecretKeyRef == nil {
		return nil
	}
	var errs field.ErrorList
	if pw.SecretKeyRef.Name == "" {
		errs = append(errs, field.Required(p.Child("secretKeyRef", "name"), "the name of a Secret in calico-node's namespace"))
	}
	if pw.SecretKeyRef.Key == "" {
		errs = append(errs, field.Required(p.Child("secretKeyRef", "key"), "the key within the Secret"))
	}
	return errs
}

// parsePeerIP accepts "ip", "ipv4:port" and "[ipv6]:port".
func parsePeerIP(s string) (netip.Addr, int, error) {
	const want = "must be an IP address, optionally with a port: 10.0.0.1, 10.0.0.1:1179, fd00::1 or [fd00::1]:1179"
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a, 0, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Addr().Zone() != "" {
		return netip.Addr{}, 0, fmt.Errorf("%s", want)
	}
	if ap.Port() == 0 {
		return netip.Addr{}, 0, fmt.Errorf("the port must be 1-65535")
	}
	return ap.Addr(), int(ap.Port()), nil
}

func validateBGPPeer(b *v3.BGPPeer) field.ErrorList {
	errs := validateMeta(&b.ObjectMeta, false, subdomainName)
	s := b.Spec
	if s.Node != "" {
		errs = append(errs, validateNodeName(specPath.Child("node"), s.Node)...)
		if s.NodeSelector != "" {
			errs = append(errs, field.Forbidden(specPath.Child("nodeSelector"), "node and nodeSelector cannot both be set"))
		}
	}
	errs = append(errs, validateSelector(specPath.Child("nodeSelector"), s.NodeSelector, false)...)
	errs = append(errs, validateSelector(specPath.Child("peerSelector"), s.PeerSelector, false)...)
	errs = append(errs, validateSelector(specPath.Child("localWorkloadSelector"), s.LocalWorkloadSelector, false)...)
	if s.PeerIP != "" {
		if _, _, err := parsePeerIP(s.PeerIP); err != nil {
			errs = append(errs, field.Invalid(specPath.Child("peerIP"), s.PeerIP, err.Error()))
		}
		if s.PeerSelector != "" {
			errs = append(errs, field.Forbidden(specPath.Child("peerSelector"), "peerIP and peerSelector cannot both be set"))
		}
	}
	if s.PeerSelector != "" && s.ASNumber != 0 {
		errs = append(errs, field.Forbidden(specPath.Child("asNumber"), "must be empty when peerSelector is set: the selected nodes' own AS numbers are used"))
	}
	if s.LocalWorkloadSelector != "" {
		if s.PeerIP != "" || s.PeerSelector != "" {
			errs = append(errs, field.Forbidden(specPath.Child("localWorkloadSelector"), "peerIP and peerSelector must be empty when localWorkloadSelector is set"))
		}
		if s.ASNumber == 0 {
			errs = append(errs, field.Required(specPath.Child("asNumber"), "the AS number of the local workloads is required with localWorkloadSelector"))
		}
	}
	if s.ReachableBy != "" {
		errs = append(errs, validateIP(specPath.Child("reachableBy"), s.ReachableBy, 0)...)
		if s.PeerIP == "" {
			errs = append(errs, field.Forbidden(specPath.Child("reachableBy"), "needs peerIP"))
		} else if peer, _, err := parsePeerIP(s.PeerIP); err == nil {
			if gw, err := netip.ParseAddr(s.ReachableBy); err == nil && gw.Is4() != peer.Is4() {
				errs = append(errs, field.Invalid(specPath.Child("reachableBy"), s.ReachableBy, "must be of the same IP version as peerIP"))
			}
		}
	}
	if s.KeepOriginalNextHop && s.NextHopMode != nil {
		errs = append(errs, field.Forbidden(specPath.Child("keepOriginalNextHop"), "keepOriginalNextHop and nextHopMode cannot both be set; keepOriginalNextHop is deprecated, use nextHopMode Keep"))
	}
	if s.NextHopMode != nil {
		errs = append(errs, oneOf(specPath.Child("nextHopMode"), *s.NextHopMode, false, v3.NextHopModeAuto, v3.NextHopModeSelf, v3.NextHopModeKeep)...)
	}
	errs = append(errs, oneOf(specPath.Child("sourceAddress"), s.SourceAddress, true, v3.SourceAddressUseNodeIP, v3.SourceAddressNone)...)
	if s.ReversePeering != nil {
		errs = append(errs, oneOf(specPath.Child("reversePeering"), *s.ReversePeering, false, v3.ReversePeeringAuto, v3.ReversePeeringManual)...)
	}
	if s.Password != nil {
		errs = append(errs, validatePassword(specPath.Child("password"), s.Password)...)
	}
	if s.MaxRestartTime != nil && s.MaxRestartTime.Duration < 0 {
		errs = append(errs, field.Invalid(specPath.Child("maxRestartTime"), s.MaxRestartTime.Duration.String(), "must not be negative"))
	}
	if s.KeepaliveTime != nil && s.KeepaliveTime.Duration <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("keepaliveTime"), s.KeepaliveTime.Duration.String(), "must be a positive duration, e.g. 20s"))
	}
	if s.NumAllowedLocalASNumbers != nil && *s.NumAllowedLocalASNumbers < 0 {
		errs = append(errs, field.Invalid(specPath.Child("numAllowedLocalASNumbers"), *s.NumAllowedLocalASNumbers, "must not be negative"))
	}
	for i, f := range s.Filters {
		for _, msg := range apivalidation.NameIsDNSSubdomain(f, false) {
			errs = append(errs, field.Invalid(specPath.Child("filters").Index(i), f, "must be the name of a BGPFilter: "+msg))
		}
	}
	return errs
}

// bgpInterfaceRegex is an interface name or glob in BGP settings.
var bgpInterfaceRegex = regexp.MustCompile(`^[a-zA-Z0-9_.*-]{1,15}$`)

func validateBGPFilter(f *v3.BGPFilter) field.ErrorList {
	errs := validateMeta(&f.ObjectMeta, false, subdomainName)
	for _, l := range []struct {
		name  string
		rules []v3.BGPFilterRuleV4
	}{{"exportV4", f.Spec.ExportV4}, {"importV4", f.Spec.ImportV4}} {
		for i, r := range l.rules {
			errs = append(errs, validateFilterRule(specPath.Child(l.name).Index(i), 4, filterRule{r.CIDR, prefixLen(r.PrefixLength), r.Source, r.Interface, r.MatchOperator, r.PeerType, r.Communities, r.Priority, r.Action, r.Operations})...)
		}
	}
	for _, l := range []struct {
		name  string
		rules []v3.BGPFilterRuleV6
	}{{"exportV6", f.Spec.ExportV6}, {"importV6", f.Spec.ImportV6}} {
		for i, r := range l.rules {
			errs = append(errs, validateFilterRule(specPath.Child(l.name).Index(i), 6, filterRule{r.CIDR, prefixLen6(r.PrefixLength), r.Source, r.Interface, r.MatchOperator, r.PeerType, r.Communities, r.Priority, r.Action, r.Operations})...)
		}
	}
	return errs
}

type minMax struct{ min, max *int32 }

func prefixLen(p *v3.BGPFilterPrefixLengthV4) *minMax {
	if p == nil {
		return nil
	}
	return &minMax{p.Min, p.Max}
}

func prefixLen6(p *v3.BGPFilterPrefixLengthV6) *minMax {
	if p == nil {
		return nil
	}
	return &minMax{p.Min, p.Max}
}

type filterRule struct {
	cidr        string
	prefix      *minMax
	source      v3.BGPFilterMatchSource
	iface       string
	op          v3.BGPFilterMatchOperator
	peerType    v3.BGPFilterPeerType
	communities *v3.BGPFilterCommunityMatch
	priority    *int
	action      v3.BGPFilterAction
	operations  []v3.BGPFilterOperation
}

func validateFilterRule(p *field.Path, fam int, r filterRule) field.ErrorList {
	var errs field.ErrorList
	maxLen := int32(32)
	if fam == 6 {
		maxLen = 128
	}
	if r.cidr != "" {
		pr, err := parseMaskedNet(r.cidr)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(p.Child("cidr"), r.cidr, fmt.Sprintf("must be an IPv%d range in CIDR notation: %v", fam, err)))
		case family(pr) != fam:
			errs = append(errs, field.Invalid(p.Child("cidr"), r.cidr, fmt.Sprintf("must be an IPv%d range: this is a V%d rule", fam, fam)))
		}
		if r.op == "" {
			errs = append(errs, field.Required(p.Child("matchOperator"), "cidr needs a matchOperator: Equal, NotEqual, In or NotIn"))
		}
	} else if r.op != "" {
		errs = append(errs, field.Required(p.Child("cidr"), "matchOperator needs a cidr"))
	}
	errs = append(errs, oneOf(p.Child("matchOperator"), r.op, true, v3.MatchOperatorEqual, v3.MatchOperatorNotEqual, v3.MatchOperatorIn, v3.MatchOperatorNotIn)...)
	// The prefix lengths bound the routes matched inside cidr; like Calico,
	// they are only checked against the address family's range.
	if r.prefix != nil {
		pp := p.Child("prefixLength")
		if r.cidr == "" {
			errs = append(errs, field.Required(p.Child("cidr"), "prefixLength needs a cidr"))
		}
		if r.prefix.min != nil && (*r.prefix.min < 0 || *r.prefix.min > maxLen) {
			errs = append(errs, field.Invalid(pp.Child("min"), *r.prefix.min, fmt.Sprintf("must be 0-%d", maxLen)))
		}
		if r.prefix.max != nil && (*r.prefix.max < 0 || *r.prefix.max > maxLen) {
			errs = append(errs, field.Invalid(pp.Child("max"), *r.prefix.max, fmt.Sprintf("must be 0-%d", maxLen)))
		}
	}
	errs = append(errs, oneOf(p.Child("source"), r.source, true, v3.BGPFilterSourceRemotePeers)...)
	if r.iface != "" && !bgpInterfaceRegex.MatchString(r.iface) {
		errs = append(errs, field.Invalid(p.Child("interface"), r.iface, "must be an interface name or glob of up to 15 letters, digits, '*', '_', '.' or '-'"))
	}
	errs = append(errs, oneOf(p.Child("peerType"), r.peerType, true, v3.BGPFilterPeerTypeEBGP, v3.BGPFilterPeerTypeIBGP)...)
	if c := r.communities; c != nil {
		if len(c.Values) != 1 {
			errs = append(errs, field.Invalid(p.Child("communities", "values"), len(c.Values), "must hold exactly one community"))
		}
		for i, v := range c.Values {
			if err := validateCommunity(string(v)); err != nil {
				errs = append(errs, field.Invalid(p.Child("communities", "values").Index(i), v, err.Error()))
			}
		}
	}
	if r.priority != nil && (*r.priority < 1 || *r.priority > 2147483646) {
		errs = append(errs, field.Invalid(p.Child("priority"), *r.priority, "must be 1-2147483646"))
	}
	errs = append(errs, oneOf(p.Child("action"), r.action, false, v3.BGPFilterAccept, v3.BGPFilterReject)...)
	if len(r.operations) > 0 && r.action != v3.BGPFilterAccept {
		errs = append(errs, field.Forbidden(p.Child("operations"), "operations are only allowed with action Accept"))
	}
	if len(r.operations) > 10 {
		errs = append(errs, field.TooMany(p.Child("operations"), len(r.operations), 10))
	}
	for i, op := range r.operations {
		op := op
		opp := p.Child("operations").Index(i)
		n := 0
		if op.AddCommunity != nil {
			n++
			if err := validateCommunity(string(op.AddCommunity.Value)); err != nil {
				errs = append(errs, field.Invalid(opp.Child("addCommunity", "value"), op.AddCommunity.Value, err.Error()))
			}
		}
		if op.PrependASPath != nil {
			n++
			if l := len(op.PrependASPath.Prefix); l < 1 || l > 10 {
				errs = append(errs, field.Invalid(opp.Child("prependASPath", "prefix"), l, "must list 1-10 AS numbers"))
			}
		}
		if op.SetPriority != nil {
			n++
			if v := op.SetPriority.Value; v < 1 || v > 2147483646 {
				errs = append(errs, field.Invalid(opp.Child("setPriority", "value"), v, "must be 1-2147483646"))
			}
		}
		if n != 1 {
			errs = append(errs, field.Invalid(opp, n, "set exactly one of addCommunity, prependASPath or setPriority"))
		}
	}
	return errs
}
