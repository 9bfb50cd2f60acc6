package manifests

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Metrics ports that have no other home.
const (
	// NodeMetrics is Felix's Prometheus port on each node (host network).
	NodeMetrics = 9091
	// TyphaMetrics is Typha's.
	TyphaMetrics = 9093
)

// ScrapeAnnotation marks the Services whose endpoints Prometheus scrapes
// (the common convention, so an existing Prometheus can use it too); the
// endpoints' port named MetricsPortName is the one scraped.
const (
	ScrapeAnnotation = "prometheus.io/scrape"
	MetricsPortName  = "metrics"
)

// MetricsTarget is a component whose metrics Prometheus scrapes: its
// k8s-app label, which becomes the job label, and its metrics port.
type MetricsTarget struct {
	App  string
	Port int32
}

// MetricsTargets are the components Prometheus scrapes.
var MetricsTargets = []MetricsTarget{
	{NodeName, NodeMetrics}, {TyphaName, TyphaMetrics}, {KubeControllersName, KubeControllersMetrics},
	{LinseedName, LinseedMetrics}, {LogShipperName, LogShipperMetrics}, {PrometheusServiceName, PrometheusServiceMetrics},
	{PacketCaptureName, PacketCaptureMetrics},
}

// MetricsServiceName is the metrics Service of a component.
func MetricsServiceName(app string) string { return app + "-metrics" }

// MetricsService is a component's metrics Service: headless (it exists
// for discovery, not for load balancing), selecting the component's pods
// by k8s-app, carrying the k8s-app label itself (Prometheus's job) and
// the scrape annotation.
func MetricsService(app string, port int32) *corev1.Service {
	m := meta(MetricsServiceName(app), Namespace)
	m.Labels["k8s-app"] = app
	m.Annotations = map[string]string{ScrapeAnnotation: "true"}
	return &corev1.Service{TypeMeta: tm("v1", "Service"), ObjectMeta: m,
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"k8s-app": app},
			Ports: []corev1.ServicePort{{Name: MetricsPortName, Port: port, TargetPort: intstr.FromInt32(port), Protocol: corev1.ProtocolTCP}}}}
}

// metricsService is MetricsService for a target by its app.
func metricsService(app string) *corev1.Service {
	for _, t := range MetricsTargets {
		if t.App == app {
			return MetricsService(t.App, t.Port)
		}
	}
	panic("no metrics target " + app)
}
