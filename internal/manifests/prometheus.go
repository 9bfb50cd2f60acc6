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
	"sigs.k8s.io/yaml"

	promrules "github.com/calicong/calico/config/prometheus"
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
	replicas := int32(2)
	env := []corev1.EnvVar{
		{Name: "LISTEN_ADDR", Value: ":" + strconv.Itoa(PrometheusServicePort)},
		{Name: "METRICS_LISTEN", Value: ":" + strconv.Itoa(PrometheusServiceMetrics)},
		{Name: "PROMETHEUS_URL", Value: fmt.Sprintf("http://%s.%s.svc:%d", PrometheusName, Namespace, PrometheusPort)},
		{Name: "PROMETHEUS_NAMESPACE", Value: Namespace},
		{Name: "AUTH_CACHE_TTL", Value: "10s"},
	}
	dep := deployment(PrometheusServiceName, replicas, labels, corev1.PodSpec{
		ServiceAccountName: PrometheusServiceName,
		Containers: []corev1.Container{{
			Name: PrometheusServiceName, Image: Image("prometheus-service", version), Env: env,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: PrometheusServicePort},
				{Name: "metrics", ContainerPort: PrometheusServiceMetrics}},
			ReadinessProbe: httpProbe("/health", PrometheusServicePort), LivenessProbe: httpProbe("/health", PrometheusServicePort),
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
			SecurityContext: restricted(),
		}},
	})
	svc := &corev1.Service{TypeMeta: tm("v1", "Service"), ObjectMeta: meta(PrometheusAPIService, Namespace),
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 9090,
			TargetPort: intstr.FromString("http")}}}}
	return append(PrometheusServiceRBAC(), dep, svc, metricsService(PrometheusServiceName), MetricsViewer())
}

// MetricsViewer is the ClusterRole calico-metrics-viewer: query
// Prometheus through the API service (Calico Enterprise's check, on
// Prometheus's Service's proxy). Bind it in Prometheus's namespace.
func MetricsViewer() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: meta(MetricsViewerRole, ""),
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services/proxy"},
			ResourceNames: []string{fmt.Sprintf("%s:%d", PrometheusName, PrometheusPort)}, Verbs: []string{"get", "create"}}}}
}

// PrometheusImage is the Prometheus the manifests run: the release the
// lab runs and `make test` checks the configuration with (Makefile,
// PROMETHEUS_RELEASE).
const PrometheusImage = "quay.io/prometheus/prometheus:v3.16.0"

// PrometheusPort is Prometheus's HTTP port.
const PrometheusPort = 9090

// PrometheusDiscovery is how Prometheus reaches the API server for
// Kubernetes service discovery: the zero value in a pod (its
// ServiceAccount), or a URL and TLS files elsewhere (the lab).
type PrometheusDiscovery struct {
	APIServer                 string
	CAFile, CertFile, KeyFile string
}

// PrometheusConfig is prometheus.yml: Calico's rules (calico-rules.yml,
// next to it) and one scrape job over the EndpointSlices of the
// annotated metrics Services in the components' namespace. The job label
// is the Service's k8s-app label; node is the endpoint's node.
func PrometheusConfig(d PrometheusDiscovery, interval string) []byte {
	sd := map[string]any{"role": "endpointslice", "namespaces": map[string]any{"names": []string{Namespace}}}
	if d.APIServer != "" {
		sd["api_server"] = d.APIServer
		sd["tls_config"] = map[string]any{"ca_file": d.CAFile, "cert_file": d.CertFile, "key_file": d.KeyFile}
	}
	relabel := []map[string]any{
		{"action": "keep", "source_labels": []string{"__meta_kubernetes_service_annotation_prometheus_io_scrape"}, "regex": "true"},
		{"action": "keep", "source_labels": []string{"__meta_kubernetes_endpointslice_port_name"}, "regex": MetricsPortName},
		{"source_labels": []string{"__meta_kubernetes_service_label_k8s_app"}, "target_label": "job"},
		{"source_labels": []string{"__meta_kubernetes_endpointslice_endpoint_node_name"}, "regex": "(.+)", "target_label": "node"},
	}
	cfg := map[string]any{
		"global":     map[string]any{"scrape_interval": interval, "evaluation_interval": interval},
		"rule_files": []string{"calico-rules.yml"},
		"scrape_configs": []map[string]any{{
			"job_name":              "calico",
			"kubernetes_sd_configs": []any{sd},
			"relabel_configs":       relabel,
		}},
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		panic(err) // maps of strings always marshal
	}
	return append([]byte("# Prometheus for Calico (docs/prometheus.md).\n"), y...)
}

// PrometheusRBAC lets Prometheus discover its targets in the components'
// namespace: read Services, Pods and EndpointSlices there, nothing else.
func PrometheusRBAC() []runtime.Object {
	read := []string{"get", "list", "watch"}
	return serviceAccountRBAC(PrometheusName, nil, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"services", "pods"}, Verbs: read},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
	})
}

// Prometheus is calico-node-prometheus without the Prometheus operator:
// its configuration and Calico's rules in a ConfigMap, a Deployment of
// one replica keeping 15 days of samples on an emptyDir (give it a
// volume claim to keep them across restarts), its Service (the one the
// API service's callers are authorised against) and RBAC.
func Prometheus() []runtime.Object {
	labels := map[string]string{"k8s-app": PrometheusName}
	yes, no := true, false
	replicas := int32(1)
	cm := &corev1.ConfigMap{TypeMeta: tm("v1", "ConfigMap"), ObjectMeta: meta(PrometheusName, Namespace),
		Data: map[string]string{"prometheus.yml": string(PrometheusConfig(PrometheusDiscovery{}, "15s")), "calico-rules.yml": string(promrules.Rules)}}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("web")}},
			PeriodSeconds: 10, TimeoutSeconds: 5}
	}
	dep := &appsv1.Deployment{TypeMeta: tm("apps/v1", "Deployment"), ObjectMeta: meta(PrometheusName, Namespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			// Two would write one volume; the old one goes first.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: PrometheusName,
					SecurityContext:    &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: ptr(int64(65534)), FSGroup: ptr(int64(65534))},
					Containers: []corev1.Container{{
						Name: "prometheus", Image: PrometheusImage,
						Args: []string{"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
							"--storage.tsdb.retention.time=15d", fmt.Sprintf("--web.listen-address=:%d", PrometheusPort)},
						Ports:          []corev1.ContainerPort{{Name: "web", ContainerPort: PrometheusPort}},
						ReadinessProbe: probe("/-/ready"), LivenessProbe: probe("/-/healthy"),
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")}},
						VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/prometheus", ReadOnly: true}, {Name: "data", MountPath: "/prometheus"}},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
					Volumes: []corev1.Volume{
						{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: PrometheusName}}}},
						{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		}}
	svc := &corev1.Service{TypeMeta: tm("v1", "Service"), ObjectMeta: meta(PrometheusName, Namespace),
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "web", Port: PrometheusPort, TargetPort: intstr.FromString("web")}}}}
	return append(PrometheusRBAC(), cm, dep, svc)
}
