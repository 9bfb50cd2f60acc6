package validation

import (
	"net"
	"net/netip"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
)

func validateProfile(p *v3.Profile) field.ErrorList {
	errs := validateMeta(&p.ObjectMeta, false, subdomainName)
	errs = append(errs, validateRules(specPath.Child("ingress"), p.Spec.Ingress)...)
	errs = append(errs, validateRules(specPath.Child("egress"), p.Spec.Egress)...)
	return append(errs, metav1validation.ValidateLabels(p.Spec.LabelsToApply, specPath.Child("labelsToApply"))...)
}

func validateWorkloadEndpoint(w *v3.WorkloadEndpoint) field.ErrorList {
	errs := validateMeta(&w.ObjectMeta, true, subdomainName)
	s := w.Spec
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
		errs = append(errs, validateIP(np.Child("externalIP"), nat.ExternalIP, 0)...)
		if ierrs := validateIP(np.Child("internalIP"), nat.InternalIP, 0); len(ierrs) > 0 {
			errs = append(errs, ierrs...)
		} else {
			in := netip.MustParseAddr(nat.InternalIP)
			found := false
			for _, a := range addrs {
				found = found || a == in
			}
			if !found {
				errs = append(errs, field.Invalid(np.Child("internalIP"), nat.InternalIP, "must be one of the endpoint's ipNetworks"))
			}
		}
	}
	if s.IPv4Gateway != "" {
		errs = append(errs, validateIP(specPath.Child("ipv4Gateway"), s.IPv4Gateway, 4)...)
	}
	if s.IPv6Gateway != "" {
		errs = append(errs, validateIP(specPath.Child("ipv6Gateway"), s.IPv6Gateway, 6)...)
	}
	errs = append(errs, validateProfileNames(specPath.Child("profiles"), s.Profiles)...)
	if s.InterfaceName != "" {
		errs = append(errs, validateInterfaceName(specPath.Child("interfaceName"), s.InterfaceName)...)
	}
	if s.MAC != "" {
		if _, err := net.ParseMAC(s.MAC); err != nil {
			errs = append(errs, field.Invalid(specPath.Child("mac"), s.MAC, "must be a MAC address, e.g. 02:42:ac:11:00:02"))
		}
	}
	for i, port := range s.Ports {
		pp := specPath.Child("ports").Index(i)
		if port.Name != "" {
			errs = append(errs, validatePortName(pp.Child("name"), port.Name)...)
		}
		errs = append(errs, validateEndpointPortProtocol(pp.Child("protocol"), port.Protocol)...)
		if port.Port == 0 {
			errs = append(errs, field.Invalid(pp.Child("port"), port.Port, "must be a port number 1-65535"))
		}
		if port.HostIP != "" {
			errs = append(errs, validateIP(pp.Child("hostIP"), port.HostIP, 0)...)
		}
	}
	errs = append(errs, validateNetList(specPath.Child("allowSpoofedSourcePrefixes"), s.AllowSpoofedSourcePrefixes, true, 1000)...)
	return errs
}
