package lab

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/calicong/calico/internal/manifests"
	"github.com/calicong/calico/internal/typha/discovery"
)

// The lab has no pods for its components, so nothing selects them for
// their Services: the agents publish each component's address as an
// EndpointSlice of its selector-less Service, as the EndpointSlice
// controller would for a pod, ready while the component's readiness
// says so. Prometheus discovers its targets from these exactly as in a
// cluster.

// svcEndpoint is one published address of a Service.
type svcEndpoint struct {
	service  string
	node     string // the node it runs on, "" for the control plane
	addr     netip.Addr
	portName string
	port     int32
	// ready reports the component's readiness; nil is always ready.
	ready func(context.Context) bool
}

// sliceName is the endpoint's own EndpointSlice.
func (e svcEndpoint) sliceName() string {
	if e.node == "" {
		return e.service + "-lab"
	}
	return e.service + "-" + e.node
}

func (e svcEndpoint) slice(ready bool) *discoveryv1.EndpointSlice {
	proto := corev1.ProtocolTCP
	ep := discoveryv1.Endpoint{Addresses: []string{e.addr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	if e.node != "" {
		ep.NodeName = &e.node
	}
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: e.sliceName(), Namespace: manifests.Namespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: e.service, discoveryv1.LabelManagedBy: "calico-lab"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &e.portName, Port: &e.port, Protocol: &proto}},
		Endpoints:   []discoveryv1.Endpoint{ep},
	}
}

// metricsEndpoint is a component's metrics address.
func metricsEndpoint(app, node string, addr netip.Addr, port int32, ready func(context.Context) bool) svcEndpoint {
	return svcEndpoint{service: manifests.MetricsServiceName(app), node: node, addr: addr, portName: manifests.MetricsPortName, port: port, ready: ready}
}

// labMetricsServices are the components' metrics Services as the lab
// has them: the manifests' (annotated for Prometheus), without a
// selector. A headless Service without a selector would default to dual
// stack, which a single-stack cluster then refuses to give the
// manifests' selector (kubectl apply of the manifests over the lab's);
// the lab's are single stack, as the manifests' default to.
func labMetricsServices() []*corev1.Service {
	var out []*corev1.Service
	single := corev1.IPFamilyPolicySingleStack
	for _, t := range manifests.MetricsTargets {
		svc := manifests.MetricsService(t.App, t.Port)
		svc.Spec.Selector = nil
		svc.Spec.IPFamilyPolicy = &single
		out = append(out, svc)
	}
	return out
}

// publishEndpoints keeps the endpoints' EndpointSlices true, checking
// readiness every second, until ctx ends; services are created first if
// missing.
func publishEndpoints(ctx context.Context, kube kubernetes.Interface, log *slog.Logger, services []*corev1.Service, eps []svcEndpoint) {
	slices := kube.DiscoveryV1().EndpointSlices(manifests.Namespace)
	published := make([]*discoveryv1.EndpointSlice, len(eps))
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for i := 0; i < len(services); i++ {
			_, err := kube.CoreV1().Services(services[i].Namespace).Create(ctx, services[i], metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				services = append(services[:i], services[i+1:]...)
				i--
			} else {
				log.Warn("creating a Service", "service", services[i].Name, "err", err)
			}
		}
		for i, e := range eps {
			want := e.slice(e.ready == nil || e.ready(ctx))
			if published[i] != nil && reflect.DeepEqual(published[i].Endpoints, want.Endpoints) {
				continue
			}
			if err := putSlice(ctx, slices, want); err != nil {
				log.Warn("publishing an endpoint", "service", e.service, "err", err)
				continue
			}
			published[i] = want
			log.Info("endpoint published", "service", e.service, "address", fmt.Sprintf("%s:%d", e.addr, e.port),
				"ready", strconv.FormatBool(*want.Endpoints[0].Conditions.Ready))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// putSlice creates or replaces an EndpointSlice.
func putSlice(ctx context.Context, slices interface {
	Get(context.Context, string, metav1.GetOptions) (*discoveryv1.EndpointSlice, error)
	Create(context.Context, *discoveryv1.EndpointSlice, metav1.CreateOptions) (*discoveryv1.EndpointSlice, error)
	Update(context.Context, *discoveryv1.EndpointSlice, metav1.UpdateOptions) (*discoveryv1.EndpointSlice, error)
}, want *discoveryv1.EndpointSlice) error {
	cur, err := slices.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, want, metav1.CreateOptions{})
	case err == nil:
		cur.Labels, cur.Ports, cur.Endpoints, cur.AddressType = want.Labels, want.Ports, want.Endpoints, want.AddressType
		_, err = slices.Update(ctx, cur, metav1.UpdateOptions{})
	}
	return err
}

// publish keeps a node's endpoints published: calico-node's metrics,
// and where a Typha replica runs, Typha and its metrics.
func (a *agent) publish(ctx context.Context, kube kubernetes.Interface) {
	ready := func(what string) func(context.Context) bool {
		return func(ctx context.Context) bool { return a.healthy(ctx, what, a.checks[what]) == nil }
	}
	node, addr := a.host.Name, a.host.IP.Addr()
	eps := []svcEndpoint{metricsEndpoint(manifests.NodeName, node, addr, manifests.NodeMetrics, ready("calico-node"))}
	var services []*corev1.Service
	if a.typha {
		services = append(services, typhaServiceObject())
		eps = append(eps,
			svcEndpoint{service: typhaService, node: node, addr: addr, portName: discovery.PortName, port: discovery.DefaultPort, ready: ready("calico-typha")},
			metricsEndpoint(manifests.TyphaName, node, addr, manifests.TyphaMetrics, ready("calico-typha")))
	}
	publishEndpoints(ctx, kube, a.log, services, eps)
}
