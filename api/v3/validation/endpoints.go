package validation

import (
	"net"
	"net/netip"
	"regexp"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
)

func validateProfile(p *v3.Profile) field.ErrorList {
	errs := validateMeta(&p.ObjectMeta, false, subdomainName)
	errs = append(errs, validateRules(specPath.Child("ingress"), p.Spec.Ingress, dirNone, false)...)
	errs = append(errs, validateRules(specPath.Child("egress"), p.Spec.Egress, dirNone, false)...)
	return append(errs, metav1validation.ValidateLabels(p.Spec.LabelsToApply, specPath.Child("labelsToApply"))...)
}

// containerIDRegex is what a container runtime's ID looks like.
var containerIDRegex = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`)

func validateWorkloadEndpoint(w *v3.WorkloadEndpoint) field.ErrorList {
	errs := validateMeta(&w.ObjectMeta, true, subdomainName)
	s := w.Spec
	for _, n := range []struct {
		name, value string
	}{{"orchestrator", s.Orchestrator}, {"workload", s.Workload}, {"node", s.Node}, {"pod", s.Pod}, {"endpoint", s.Endpoint}, {"serviceAccountName", s.ServiceAccountName}} {
		if n.value != "" {
			errs = append(errs, validateObjectName(specPath.Child(n.name), n.value, "")...)
		}
	}
	if s.ContainerID != "" && !containerIDRegex.MatchString(s.ContainerID) {
		errs = append(errs, field.Invalid(specPath.Child("containerID"), s.ContainerID, "must be a container ID: letters, digits and '-', starting and ending with a letter or digit"))
	}
	var addrs []netip.Addr
	for i, n := range s.IPNetworks {
		p, ok := hostNet(n)
		if !ok {
			errs = append(errs, field.Invalid(specPath.Child("ipNetworks").Index(i), n, "must be a single address as a /32 or /128 network"))
			continue
		}
		addrs = append(addrs, p.Addr())
	}
	for i, nat := range s.IPNATs {
		np := specPath.Child("ipNATs").Index(i)
		extErrs := validateIP(np.Child("externalIP"), nat.ExternalIP, 0)
		errs = append(errs, extErrs...)
		if ierrs := validateIP(np.Child("internalIP"), nat.InternalIP, 0); len(ierrs) > 0 {
			errs = append(errs, ierrs...)
			continue
		}
		in := netip.MustParseAddr(nat.InternalIP)
		if len(extErrs) == 0 && netip.MustParseAddr(nat.ExternalIP).Is4() != in.Is4() {
			errs = append(errs, field.Invalid(np.Child("externalIP"), nat.ExternalIP, "must be of the same IP version as internalIP"))
		}
		found := false
		for _, a := range addrs {
			found = found || a == in
		}
		if !found {
			errs = append(errs, field.Invalid(np.Child("internalIP"), nat.InternalIP, "must be one of the endpoint's ipNetworks"))
		}
	}
	if s.IPv4Gateway != "" {
		errs = append(errs, validateIP(specPath.Child("ipv4Gateway"), s.IPv4Gateway, 4)...)
	}
	if s.IPv6Gateway != "" {
		errs = append(errs, validateIP(specPath.Child("ipv6Gateway"), s.IPv6Gateway, 6)...)
	}
	errs = append(errs, validateProfileNames(specPath.Child("profiles"), s.Profiles)...)
	if s.InterfaceName == "" {
		errs = append(errs, field.Required(specPath.Child("interfaceName"), "the name of the workload's interface on the host, e.g. cali12345678901"))
	} else {
		errs = append(errs, validateInterfaceName(specPath.Child("interfaceName"), s.InterfaceName)...)
	}
	if s.MAC != "" {
		errs = append(errs, validateMAC(specPath.Child("mac"), s.MAC)...)
	}
	for i, port := range s.Ports {
		pp := specPath.Child("ports").Index(i)
		switch {
		case port.Name != "":
			errs = append(errs, validateK8sPortName(pp.Child("name"), port.Name)...)
		case port.HostPort == 0:
			errs = append(errs, field.Required(pp.Child("name"), "a port without a hostPort needs a name (policy refers to it by name)"))
		}
		errs = append(errs, validateEndpointPortProtocol(pp.Child("protocol"), port.Protocol)...)
		if port.Port == 0 {
			errs = append(errs, field.Invalid(pp.Child("port"), port.Port, "must be a port number 1-65535"))
		}
		if port.HostIP != "" {
			if _, err := parseMaskedNet(port.HostIP); err != nil {
				errs = append(errs, field.Invalid(pp.Child("hostIP"), port.HostIP, "must be an IP address, e.g. 192.0.2.1: "+err.Error()))
			}
		}
	}
	errs = append(errs, validateNetList(specPath.Child("allowSpoofedSourcePrefixes"), s.AllowSpoofedSourcePrefixes, true, 1000)...)
	return errs
}

func validateMAC(p *field.Path, mac string) field.ErrorList {
	if _, err := net.ParseMAC(mac); err != nil {
		return field.ErrorList{field.Invalid(p, mac, "must be a MAC address, e.g. 02:42:ac:11:00:02")}
	}
	return nil
}

// Node address types.
var nodeAddressTypes = []string{v3.NodeAddressCalicoNodeIP, v3.NodeAddressInternalIP, v3.NodeAddressExternalIP}

func validateNode(n *v3.Node) field.ErrorList {
	errs := validateMeta(&n.ObjectMeta, false, subdomainName)
	s := n.Spec
	if b := s.BGP; b != nil {
		bp := specPath.Child("bgp")
		if *b == (v3.NodeBGPSpec{}) {
			errs = append(errs, field.Required(bp, "an empty bgp section means nothing; set ipv4Address or ipv6Address, or remove it"))
		}
		if b.IPv4Address != "" {
			errs = append(errs, validateHostCIDR(bp.Child("ipv4Address"), b.IPv4Address, 4)...)
		}
		if b.IPv6Address != "" {
			errs = append(errs, validateHostCIDR(bp.Child("ipv6Address"), b.IPv6Address, 6)...)
		}
		if b.IPv4IPIPTunnelAddr != "" {
			errs = append(errs, validateIP(bp.Child("ipv4IPIPTunnelAddr"), b.IPv4IPIPTunnelAddr, 4)...)
		}
		if b.RouteReflectorClusterID != "" {
			errs = append(errs, validateIP(bp.Child("routeReflectorClusterID"), b.RouteReflectorClusterID, 4)...)
		}
	}
	if s.IPv4VXLANTunnelAddr != "" {
		errs = append(errs, validateIP(specPath.Child("ipv4VXLANTunnelAddr"), s.IPv4VXLANTunnelAddr, 4)...)
	}
	if s.IPv6VXLANTunnelAddr != "" {
		errs = append(errs, validateIP(specPath.Child("ipv6VXLANTunnelAddr"), s.IPv6VXLANTunnelAddr, 6)...)
	}
	if s.VXLANTunnelMACAddr != "" {
		errs = append(errs, validateMAC(specPath.Child("vxlanTunnelMACAddr"), s.VXLANTunnelMACAddr)...)
	}
	if s.VXLANTunnelMACAddrV6 != "" {
		errs = append(errs, validateMAC(specPath.Child("vxlanTunnelMACAddrV6"), s.VXLANTunnelMACAddrV6)...)
	}
	for i, a := range s.Addresses {
		ap := specPath.Child("addresses").Index(i)
		if _, err := parseMaskedNet(a.Address); err != nil {
			errs = append(errs, field.Invalid(ap.Child("address"), a.Address, err.Error()))
		}
		errs = append(errs, oneOf(ap.Child("type"), a.Type, true, nodeAddressTypes...)...)
	}
	for i, o := range s.OrchRefs {
		if o.NodeName != "" {
			errs = append(errs, validateObjectName(specPath.Child("orchRefs").Index(i).Child("nodeName"), o.NodeName, "")...)
		}
	}
	return errs
}

// validateHostCIDR checks a node's address with its subnet, e.g.
// 192.0.2.10/24 (the address need not be the network's), or a bare address.
func validateHostCIDR(p *field.Path, s string, want int) field.ErrorList {
	pr, err := parseNet(s, true)
	if err != nil {
		return field.ErrorList{field.Invalid(p, s, "must be an address with its prefix length, e.g. 192.0.2.10/24, or an address")}
	}
	if family(pr) != want {
		return field.ErrorList{field.Invalid(p, s, "must be an IPv"+map[int]string{4: "4", 6: "6"}[want]+" address")}
	}
	return nil
}
