package noderuntime

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/calicong/calico/internal/lab/probe"
)

// Annotations that make a pod a client: it connects to each target
// (`<service>:<port>` in the pod's namespace, through the Service's
// ClusterIP and so kube-proxy, or `<ip>:<port>`) every interval, so the
// lab's demo carries traffic that flow logs and metrics can show.
const (
	AnnotationConnect      = "lab.calicong.io/connect"
	AnnotationConnectEvery = "lab.calicong.io/connect-every"
)

// target is one place a client pod connects to.
type target struct {
	host string // a Service name in the pod's namespace, or an IP
	port int
}

// clientTargets reads a pod's client annotations; no targets means the
// pod is not a client.
func clientTargets(pod *corev1.Pod) ([]target, time.Duration, error) {
	spec := strings.TrimSpace(pod.Annotations[AnnotationConnect])
	if spec == "" {
		return nil, 0, nil
	}
	var out []target
	for _, f := range strings.Fields(spec) {
		host, p, ok := strings.Cut(f, ":")
		port, err := strconv.Atoi(p)
		if !ok || host == "" || err != nil || port < 1 || port > 65535 {
			return nil, 0, fmt.Errorf("%s: %q is not <service or ip>:<port>", AnnotationConnect, f)
		}
		out = append(out, target{host: host, port: port})
	}
	every := 5 * time.Second
	if s := pod.Annotations[AnnotationConnectEvery]; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 100*time.Millisecond {
			return nil, 0, fmt.Errorf("%s: %q is not a duration of at least 100ms", AnnotationConnectEvery, s)
		}
		every = d
	}
	return out, every, nil
}

// runClient connects from the pod's network namespace to each target
// every interval until ctx ends. A Service is resolved as a pod's
// resolver would, through the cluster DNS (dns, if valid) as
// <service>.<namespace>.svc.cluster.local; while that does not answer,
// from the API server. Refused or dropped connections are expected
// (policy may deny them) and only logged at debug level.
func runClient(ctx context.Context, kube kubernetes.Interface, dns netip.Addr, ns, netns string, targets []target, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, t := range targets {
			addr := t.host
			if _, err := netip.ParseAddr(addr); err != nil && dns.IsValid() {
				if as, err := probe.Lookup(netns, dns, t.host+"."+ns+".svc.cluster.local", time.Second); err == nil {
					addr = as[0].String()
				}
			}
			if _, err := netip.ParseAddr(addr); err != nil {
				svc, err := kube.CoreV1().Services(ns).Get(ctx, t.host, metav1.GetOptions{})
				if err != nil || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
					log.Debug("client target not resolved", "target", t.host, "err", err)
					continue
				}
				addr = svc.Spec.ClusterIP
			}
			r, err := probe.Connect(netns, "TCP", addr, t.port, time.Second)
			log.Debug("client connection", "target", fmt.Sprintf("%s:%d", t.host, t.port), "connected", r.Connected, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
