package validation

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"

	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
)

func validateHostEndpoint(h *v3.HostEndpoint) field.ErrorList {
	errs := validateMeta(&h.ObjectMeta, false, subdomainName)
	s := h.Spec
	if s.Node == "" {
		errs = append(errs, field.Required(specPath.Child("node"), "the name of the node the interface belongs to"))
	} else {
		errs = append(errs, validateNodeName(specPath.Child("node"), s.Node)...)
	}
	if s.InterfaceName == "" && len(s.ExpectedIPs) == 0 {
		errs = append(errs, field.Required(specPath.Child("interfaceName"), "give interfaceName (or \"*\" for all interfaces), expectedIPs, or both"))
	}
	if s.InterfaceName != "" && s.InterfaceName != "*" {
		errs = append(errs, validateInterfaceName(specPath.Child("interfaceName"), s.InterfaceName)...)
	}
	for i, ip := range s.ExpectedIPs {
		errs = append(errs, validateIP(specPath.Child("expectedIPs").Index(i), ip, 0)...)
	}
	errs = append(errs, validateProfileNames(specPath.Child("profiles"), s.Profiles)...)
	// Names may repeat: a port name can stand for a TCP and a UDP port.
	for i, port := range s.Ports {
		pp := specPath.Child("ports").Index(i)
		if port.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), "policy refers to a host endpoint's ports by name, e.g. http"))
		} else {
			errs = append(errs, validateK8sPortName(pp.Child("name"), port.Name)...)
		}
		errs = append(errs, validateEndpointPortProtocol(pp.Child("protocol"), port.Protocol)...)
		if port.Port == 0 {
			errs = append(errs, field.Invalid(pp.Child("port"), port.Port, "must be a port number 1-65535"))
		}
	}
	return errs
}

func validateEndpointPortProtocol(p *field.Path, proto v3.Protocol) field.ErrorList {
	if proto == (v3.Protocol{}) {
		return field.ErrorList{field.Required(p, "TCP, UDP or SCTP")}
	}
	if err := proto.Validate(); err != nil {
		return field.ErrorList{field.Invalid(p, proto.String(), err.Error())}
	}
	if !proto.SupportsPorts() {
		return field.ErrorList{field.Invalid(p, proto.String(), "an endpoint port's protocol must be TCP, UDP or SCTP")}
	}
	return nil
}

// ifaceRegex is a Linux interface name as Calico accepts one.
var ifaceRegex = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)

func validateInterfaceName(p *field.Path, name string) field.ErrorList {
	if !ifaceRegex.MatchString(name) {
		return field.ErrorList{field.Invalid(p, name, "must be a Linux interface name: 1-15 letters, digits, '_', '.' or '-'")}
	}
	return nil
}

func validateNodeName(p *field.Path, name string) field.ErrorList {
	return validateObjectName(p, name, "a node")
}

func validateProfileNames(p *field.Path, names []string) field.ErrorList {
	var errs field.ErrorList
	for i, n := range names {
		errs = append(errs, validateObjectName(p.Index(i), n, "a profile, e.g. kns.default or projectcalico-default-allow")...)
	}
	return errs
}

// reservedPoolRanges are ranges an IP pool must not overlap: link-local
// addresses are used by the node itself (e.g. 169.254.1.1 as workloads' gateway).
var reservedPoolRanges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("169.254.0.0/16"), "the IPv4 link-local range 169.254.0.0/16"},
	{netip.MustParsePrefix("fe80::/10"), "the IPv6 link-local range fe80::/10"},
}

func validateIPPool(pool *v3.IPPool) field.ErrorList {
	errs := validateMeta(&pool.ObjectMeta, false, subdomainName)
	s := pool.Spec
	cp := specPath.Child("cidr")
	bp := specPath.Child("blockSize")
	var fam int
	if s.CIDR == "" {
		errs = append(errs, field.Required(cp, "an address range in CIDR notation, e.g. 10.244.0.0/16"))
	} else if pr, err := netip.ParsePrefix(s.CIDR); err != nil || pr.Addr().Zone() != "" {
		errs = append(errs, field.Invalid(cp, s.CIDR, "must be an address range in CIDR notation, e.g. 10.244.0.0/16 or fd00:10:244::/64"))
	} else {
		fam = family(pr)
		if pr.Addr().Is4In6() {
			errs = append(errs, field.Invalid(cp, s.CIDR, "IPv4-mapped IPv6 ranges are not allowed; use the IPv4 form"))
		}
		for _, r := range reservedPoolRanges {
			if pr.Overlaps(r.prefix) {
				errs = append(errs, field.Invalid(cp, s.CIDR, "overlaps "+r.what))
			}
		}
		lo, hi := 20, 32
		if fam == 6 {
			lo, hi = 116, 128
		}
		if s.BlockSize != 0 && (s.BlockSize < lo || s.BlockSize > hi) {
			errs = append(errs, field.Invalid(bp, s.BlockSize, fmt.Sprintf("an IPv%d pool's blockSize must be %d-%d", fam, lo, hi)))
		} else if s.BlockSize != 0 && pr.Bits() > s.BlockSize && !s.Disabled {
			// A disabled pool allocates nothing, so its size does not matter
			// (it may, for instance, keep workloads off a range).
			errs = append(errs, field.Invalid(cp, s.CIDR, fmt.Sprintf("the pool (/%d) is smaller than one block (/%d); use a prefix length of at most %d or a larger blockSize", pr.Bits(), s.BlockSize, s.BlockSize)))
		}
	}
	if s.BlockSize < 0 || s.BlockSize > 128 {
		errs = append(errs, field.Invalid(bp, s.BlockSize, "must be 20-32 for IPv4 pools and 116-128 for IPv6 pools"))
	}
	modes := []v3.EncapMode{v3.EncapNever, v3.EncapAlways, v3.EncapCrossSubnet}
	errs = append(errs, oneOf(specPath.Child("ipipMode"), s.IPIPMode, true, modes...)...)
	errs = append(errs, oneOf(specPath.Child("vxlanMode"), s.VXLANMode, true, modes...)...)
	ipip := s.IPIPMode != "" && s.IPIPMode != v3.EncapNever
	vxlan := s.VXLANMode != "" && s.VXLANMode != v3.EncapNever
	if ipip && vxlan {
		errs = append(errs, field.Forbidden(specPath.Child("vxlanMode"), "ipipMode and vxlanMode cannot both be enabled; set one of them to Never"))
	}
	if ipip && fam == 6 {
		errs = append(errs, field.Forbidden(specPath.Child("ipipMode"), "IPIP is not supported on IPv6 pools; use vxlanMode or ipipMode Never"))
	}
	errs = append(errs, validateSelector(specPath.Child("nodeSelector"), s.NodeSelector, false)...)
	errs = append(errs, validateSelector(specPath.Child("namespaceSelector"), s.NamespaceSelector, false)...)
	seen := map[v3.IPPoolAllowedUse]bool{}
	up := specPath.Child("allowedUses")
	if len(s.AllowedUses) > 10 {
		errs = append(errs, field.TooMany(up, len(s.AllowedUses), 10))
	}
	for i, u := range s.AllowedUses {
		errs = append(errs, oneOf(up.Index(i), u, false, v3.IPPoolAllowedUseWorkload, v3.IPPoolAllowedUseTunnel, v3.IPPoolAllowedUseLoadBalancer)...)
		if seen[u] {
			errs = append(errs, field.Duplicate(up.Index(i), u))
		}
		seen[u] = true
	}
	if seen[v3.IPPoolAllowedUseLoadBalancer] {
		// LoadBalancer addresses are assigned by kube-controllers and
		// advertised over BGP from every node: the pool serves nothing else.
		if seen[v3.IPPoolAllowedUseWorkload] || seen[v3.IPPoolAllowedUseTunnel] {
			errs = append(errs, field.Forbidden(up, "LoadBalancer must be the only use: a pool for Service addresses cannot also serve workloads or tunnels; create a separate pool"))
		}
		if ipip || vxlan {
			errs = append(errs, field.Forbidden(specPath.Child("ipipMode"), "a LoadBalancer pool's addresses are not routed through tunnels: set ipipMode and vxlanMode to Never"))
		}
		if s.DisableBGPExport {
			errs = append(errs, field.Forbidden(specPath.Child("disableBGPExport"), "a LoadBalancer pool's addresses are reached through BGP: disableBGPExport must be false"))
		}
		if s.NodeSelector != "all()" {
			errs = append(errs, field.Invalid(specPath.Child("nodeSelector"), s.NodeSelector, "a LoadBalancer pool belongs to every node: use all() or leave nodeSelector empty"))
		}
	}
	if seen[v3.IPPoolAllowedUseTunnel] && s.NamespaceSelector != "" {
		errs = append(errs, field.Forbidden(specPath.Child("namespaceSelector"), "a pool with allowed use Tunnel gives nodes their tunnel addresses, which belong to no namespace; remove namespaceSelector or use allowedUses [Workload]"))
	}
	if s.AssignmentMode != nil {
		errs = append(errs, oneOf(specPath.Child("assignmentMode"), *s.AssignmentMode, false, v3.AssignmentModeAutomatic, v3.AssignmentModeManual)...)
	}
	return errs
}

var affinityRegex = regexp.MustCompile(`^(host|virtual):[a-zA-Z0-9.\-_]+$`)

func validateIPAMBlock(b *v3.IPAMBlock) field.ErrorList {
	errs := validateMeta(&b.ObjectMeta, false, subdomainName)
	s := b.Spec
	size := -1
	if pr, err := netip.ParsePrefix(s.CIDR); err != nil {
		errs = append(errs, field.Invalid(specPath.Child("cidr"), s.CIDR, "must be the block's range in CIDR notation, e.g. 10.244.1.0/26"))
	} else if bits := pr.Addr().BitLen() - pr.Bits(); bits > 20 {
		errs = append(errs, field.Invalid(specPath.Child("cidr"), s.CIDR, "a block holds at most 2^20 addresses"))
	} else {
		size = 1 << bits
	}
	if s.Affinity != nil && !affinityRegex.MatchString(*s.Affinity) {
		errs = append(errs, field.Invalid(specPath.Child("affinity"), *s.Affinity, `must be "host:<node>" or "virtual:<name>"`))
	}
	if size >= 0 && len(s.Allocations) != size {
		errs = append(errs, field.Invalid(specPath.Child("allocations"), len(s.Allocations), fmt.Sprintf("must have one entry per address of the block (%d)", size)))
	}
	for i, a := range s.Allocations {
		if a != nil && (*a < 0 || *a >= len(s.Attributes)) {
			errs = append(errs, field.Invalid(specPath.Child("allocations").Index(i), *a, fmt.Sprintf("must be null or an index into attributes (0-%d)", len(s.Attributes)-1)))
		}
	}
	seen := map[int]bool{}
	for i, o := range s.Unallocated {
		up := specPath.Child("unallocated").Index(i)
		if o < 0 || (size >= 0 && o >= size) || (o < len(s.Allocations) && s.Allocations[o] != nil) {
			errs = append(errs, field.Invalid(up, o, "must be the ordinal of a free address of the block"))
		}
		if seen[o] {
			errs = append(errs, field.Duplicate(up, o))
		}
		seen[o] = true
	}
	for k := range s.SequenceNumberForAllocation {
		if n, err := strconv.Atoi(k); err != nil || n < 0 || (size >= 0 && n >= size) {
			errs = append(errs, field.Invalid(specPath.Child("sequenceNumberForAllocation").Key(k), k, "keys must be ordinals of the block's addresses"))
		}
	}
	return errs
}

func validateBlockAffinity(a *v3.BlockAffinity) field.ErrorList {
	errs := validateMeta(&a.ObjectMeta, false, subdomainName)
	s := a.Spec
	if s.Deleted {
		errs = append(errs, field.Forbidden(specPath.Child("deleted"), "IPAM marks an affinity deleted while it removes it; a written affinity must have deleted false"))
	}
	errs = append(errs, oneOf(specPath.Child("state"), s.State, true, v3.StateConfirmed, v3.StatePending, v3.StatePendingDeletion)...)
	if s.Node == "" {
		errs = append(errs, field.Required(specPath.Child("node"), "the node (or virtual owner) the block is affine to"))
	}
	errs = append(errs, oneOf(specPath.Child("type"), s.Type, true, "host", "virtual")...)
	if _, err := netip.ParsePrefix(s.CIDR); err != nil {
		errs = append(errs, field.Invalid(specPath.Child("cidr"), s.CIDR, "must be the block's range in CIDR notation"))
	}
	return errs
}

func validateIPAMHandle(h *v3.IPAMHandle) field.ErrorList {
	errs := validateMeta(&h.ObjectMeta, false, subdomainName)
	if h.Spec.HandleID == "" {
		errs = append(errs, field.Required(specPath.Child("handleID"), "the handle, e.g. k8s-pod-network.<containerID>"))
	}
	for k, n := range h.Spec.Block {
		if _, err := netip.ParsePrefix(k); err != nil {
			errs = append(errs, field.Invalid(specPath.Child("block").Key(k), k, "keys must be block CIDRs"))
		}
		if n < 0 {
			errs = append(errs, field.Invalid(specPath.Child("block").Key(k), n, "must not be negative"))
		}
	}
	return errs
}
