package manifests

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The Prometheus API service's names.
const (
	PrometheusServiceName = "calico-prometheus-service"
	// PrometheusAPIService is the proxy's Service, where clients send
	// their queries (Calico Enterprise's prometheus-http-api).
	PrometheusAPIService     = "prometheus-http-api"
	PrometheusServicePort    = 8090
	PrometheusServiceMetrics = 8091
	// PrometheusName is Prometheus's Service; callers need `get` or
	// `create` on its services/proxy, named PrometheusName:9090.
	PrometheusName = "calico-node-prometheus"
	// MetricsViewerRole may query Prometheus through the proxy: bind it
	// with a RoleBinding in kube-system.
	MetricsViewerRole = "calico-metrics-viewer"
)

// PrometheusServiceRBAC lets calico-prometheus-service check its
// callers: TokenReviews and SubjectAccessReviews, nothing else.
func PrometheusServiceRBAC() []runtime.Object {
	return serviceAccountRBAC(PrometheusServiceName, []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}, nil)
}

// PrometheusService is calico-prometheus-service in front of Prometheus
// (the Service calico-node-prometheus on 9090): its RBAC, a Deployment
// of two replicas, its Service prometheus-http-api on 9090, and the
// ClusterRole calico-metrics-viewer for the people who may query.
func PrometheusService(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": PrometheusServiceName}
	yes, no := true, false
	replicas := int32(2)
	env := []corev1.EnvVar{
		{Name: "LISTEN_ADDR", Value: ":" + strconv.Itoa(PrometheusServicePort)},
		{Name: "METRICS_LISTEN", Value: ":" + strconv.Itoa(PrometheusServiceMetrics)},
		{Name: "PROMETHEUS_URL", Value: fmt.Sprintf("http://%s.%s.svc:9090", PrometheusName, Namespace)},
		{Name: "PROMETHEUS_NAMESPACE", Value: Namespace},
		{Name: "AUTH_CACHE_TTL", Value: "10s"},
	}
	dep := &appsv1.Deployment{TypeMeta: tm("apps/v1", "Deployment"), ObjectMeta: meta(PrometheusServiceName, Namespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: PrometheusServiceName,
					Containers: []corev1.Container{{
						Name: PrometheusServiceName, Image: Image("prometheus-service", version), Env: env,
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: PrometheusServicePort},
							{Name: "metrics", ContainerPort: PrometheusServiceMetrics}},
						ReadinessProbe: httpProbe("/health", PrometheusServicePort), LivenessProbe: httpProbe("/health", PrometheusServicePort),
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
						SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &yes, AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
				},
			},
		}}
	svc := &corev1.Service{TypeMeta: tm("v1", "Service"), ObjectMeta: meta(PrometheusAPIService, Namespace),
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 9090,
			TargetPort: intstr.FromString("http")}}}}
	viewer := &rbacv1.ClusterRole{TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: meta(MetricsViewerRole, ""),
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services/proxy"},
			ResourceNames: []string{PrometheusName + ":9090"}, Verbs: []string{"get", "create"}}}}
	return append(PrometheusServiceRBAC(), dep, svc, viewer)
}
