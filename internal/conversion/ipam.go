package conversion

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
)

// IPAMPods takes what IPAM's leak check needs from pods: their node and
// the addresses their Calico annotations record (host-networked pods
// have none of their own).
func IPAMPods(pods []corev1.Pod) []ipam.Pod {
	out := make([]ipam.Pod, 0, len(pods))
	for _, p := range pods {
		ip := ipam.Pod{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName}
		if !p.Spec.HostNetwork {
			for _, s := range strings.Split(p.Annotations[v3.AnnotationPodIPs], ",") {
				if pr, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
					ip.IPs = append(ip.IPs, pr.Addr())
				}
			}
		}
		out = append(out, ip)
	}
	return out
}
