package conversion

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

// DefaultEndpoint is the name of a pod's only Calico-managed interface.
const DefaultEndpoint = "eth0"

// annotationAllowedSourcePrefixes lists extra source ranges a pod may send
// from, as a JSON list of CIDRs.
const annotationAllowedSourcePrefixes = "cni.projectcalico.org/allowedSourcePrefixes"

// WorkloadEndpointName is Calico's name for a pod's endpoint:
// "<node>-k8s-<pod>-<endpoint>", with every "-" inside a part doubled so the
// name can be split unambiguously.
func WorkloadEndpointName(node, pod, endpoint string) string {
	esc := func(s string) string { return strings.ReplaceAll(s, "-", "--") }
	return esc(node) + "-" + v3.OrchestratorKubernetes + "-" + esc(pod) + "-" + esc(endpoint)
}

// VethName is the host side of a pod's veth: "cali" plus the first 11 hex
// digits of SHA-1("<namespace>.<pod>"). The CNI plugin creates it and Felix
// derives the same name, so neither needs to tell the other.
func VethName(namespace, pod string) string {
	sum := sha1.Sum([]byte(namespace + "." + pod))
	return "cali" + hex.EncodeToString(sum[:])[:11]
}

// WorkloadEndpoint converts a pod into its workload endpoint. ok is false for
// pods Calico does not network: host-networked pods and pods not yet bound
// to a node. Pods that have finished keep their endpoint but lose their
// addresses, which may already belong to another pod.
func WorkloadEndpoint(pod *corev1.Pod) (wep *v3.WorkloadEndpoint, ok bool) {
	if pod.Spec.HostNetwork || pod.Spec.NodeName == "" {
		return nil, false
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	labels := make(map[string]string, len(pod.Labels)+3)
	for k, v := range pod.Labels {
		labels[k] = v
	}
	labels[v3.LabelNamespace] = pod.Namespace
	labels[v3.LabelOrchestrator] = v3.OrchestratorKubernetes
	if len(sa) < 63 {
		labels[v3.LabelServiceAccount] = sa
	}

	wep = &v3.WorkloadEndpoint{
		TypeMeta: metav1.TypeMeta{Kind: "WorkloadEndpoint", APIVersion: v3.SchemeGroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{
			Name:              WorkloadEndpointName(pod.Spec.NodeName, pod.Name, DefaultEndpoint),
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			CreationTimestamp: pod.CreationTimestamp,
			Labels:            labels,
			// As upstream's conversion (workload_endpoint_default.go).
			GenerateName: pod.GenerateName,
		},
		Spec: v3.WorkloadEndpointSpec{
			Orchestrator:       v3.OrchestratorKubernetes,
			Node:               pod.Spec.NodeName,
			Pod:                pod.Name,
			Endpoint:           DefaultEndpoint,
			ContainerID:        pod.Annotations[v3.AnnotationContainerID],
			ServiceAccountName: sa,
			Profiles:           []string{NamespaceProfileName(pod.Namespace), ServiceAccountProfileName(pod.Namespace, sa)},
			InterfaceName:      VethName(pod.Namespace, pod.Name),
		},
	}
	if !podFinished(pod) {
		wep.Spec.IPNetworks = podIPNetworks(pod)
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "" && p.HostPort == 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			wep.Spec.Ports = append(wep.Spec.Ports, v3.WorkloadEndpointPort{
				Name:     p.Name,
				Protocol: v3.ProtocolFromString(string(proto)),
				Port:     uint16(p.ContainerPort),
				HostPort: uint16(p.HostPort),
				HostIP:   p.HostIP,
			})
		}
	}
	if raw := pod.Annotations[annotationAllowedSourcePrefixes]; raw != "" {
		var prefixes []string
		if json.Unmarshal([]byte(raw), &prefixes) == nil {
			for _, p := range prefixes {
				if _, n, err := net.ParseCIDR(p); err == nil {
					wep.Spec.AllowSpoofedSourcePrefixes = append(wep.Spec.AllowSpoofedSourcePrefixes, n.String())
				}
			}
		}
	}
	return wep, true
}

func podFinished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// podIPNetworks reads the pod's addresses: the CNI plugin's podIPs (or
// podIP) annotation first, since it is written before the kubelet reports
// status, then the pod status. Each becomes a /32 or /128.
func podIPNetworks(pod *corev1.Pod) []string {
	var raw []string
	if v := pod.Annotations[v3.AnnotationPodIPs]; v != "" {
		raw = strings.Split(v, ",")
	} else if v := pod.Annotations[v3.AnnotationPodIP]; v != "" {
		raw = []string{v}
	} else {
		for _, ip := range pod.Status.PodIPs {
			raw = append(raw, ip.IP)
		}
		if len(raw) == 0 && pod.Status.PodIP != "" {
			raw = []string{pod.Status.PodIP}
		}
	}
	var out []string
	for _, s := range raw {
		if n := hostNetwork(strings.TrimSpace(s)); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// hostNetwork turns "10.0.0.1", "10.0.0.1/32" or "10.0.0.1/26" into
// "10.0.0.1/32" (and likewise /128 for IPv6); "" if unparseable.
func hostNetwork(s string) string {
	ip := net.ParseIP(s)
	if ip == nil {
		var err error
		if ip, _, err = net.ParseCIDR(s); err != nil {
			return ""
		}
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String() + "/32"
	}
	return ip.String() + "/128"
}
