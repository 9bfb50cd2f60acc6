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

// Linseed and log shipper names.
const (
	LinseedName    = "calico-linseed"
	LinseedPort    = 8444
	LinseedHealth  = 8080
	LinseedMetrics = 9095
	// LinseedTLSSecret holds Linseed's serving certificate (tls.crt,
	// tls.key) and the CA its clients' certificates chain to (ca.crt).
	LinseedTLSSecret = "calico-linseed-tls"
	// LinseedData is the volume claim of the SQLite store.
	LinseedData = "calico-linseed-data"

	LogShipperName = "calico-log-shipper"
	// LogShipperTLSSecret holds the shipper's client certificate
	// (tls.crt, tls.key) and the CA Linseed's certificate chains to
	// (ca.crt).
	LogShipperTLSSecret = "calico-log-shipper-tls"
	LogShipperHealth    = 9096
	LogShipperMetrics   = 9097
	// AuditLogDir is where control-plane nodes keep the API server's
	// audit log (--audit-log-path=/var/log/kubernetes/audit/audit.log).
	AuditLogDir = "/var/log/kubernetes/audit"
)

// LinseedAPIGroup is the API group of Linseed's RBAC resources.
const LinseedAPIGroup = "linseed.tigera.io"

// LinseedResources are Linseed's RBAC resources (Calico Enterprise's).
var LinseedResources = []string{"flowlogs", "flows", "dnslogs", "auditlogs", "ee_auditlogs", "kube_auditlogs", "bgplogs",
	"events", "compliancereports", "snapshots", "benchmarks", "threatfeeds_ipset", "threatfeeds_domainnameset"}

// LinseedRBAC lets calico-linseed check its callers: TokenReviews and
// SubjectAccessReviews, nothing else.
func LinseedRBAC() []runtime.Object {
	return serviceAccountRBAC(LinseedName, []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}, nil)
}

// LogShipperRBAC lets calico-log-shipper write what it ships to Linseed,
// and read nothing.
func LogShipperRBAC() []runtime.Object {
	return serviceAccountRBAC(LogShipperName, []rbacv1.PolicyRule{
		{APIGroups: []string{LinseedAPIGroup}, Resources: []string{"flowlogs", "dnslogs", "bgplogs", "ee_auditlogs", "kube_auditlogs"},
			Verbs: []string{"create"}},
	}, nil)
}

// Linseed is calico-linseed with its SQLite store on a volume claim: one
// replica (SQLite has one writer, and duplicates are skipped per process;
// docs/install.md for ClickHouse), its Service and RBAC. Its certificate is
// the calico-linseed-tls Secret.
func Linseed(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": LinseedName}
	svc := &corev1.Service{TypeMeta: tm("v1", "Service"), ObjectMeta: meta(LinseedName, Namespace),
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "https", Port: 443,
			TargetPort: intstr.FromInt32(LinseedPort), Protocol: corev1.ProtocolTCP}}}}
	pvc := &corev1.PersistentVolumeClaim{TypeMeta: tm("v1", "PersistentVolumeClaim"), ObjectMeta: meta(LinseedData, Namespace),
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}}}}
	yes, no := true, false
	replicas := int32(1)
	uid := int64(10001)
	env := []corev1.EnvVar{
		{Name: "LINSEED_LISTEN", Value: fmt.Sprintf(":%d", LinseedPort)},
		{Name: "LINSEED_HEALTH_LISTEN", Value: fmt.Sprintf(":%d", LinseedHealth)},
		{Name: "LINSEED_METRICS_LISTEN", Value: fmt.Sprintf(":%d", LinseedMetrics)},
		{Name: "LINSEED_TLS_CERT", Value: "/etc/calico-linseed/tls/tls.crt"},
		{Name: "LINSEED_TLS_KEY", Value: "/etc/calico-linseed/tls/tls.key"},
		{Name: "LINSEED_CLIENT_CA", Value: "/etc/calico-linseed/tls/ca.crt"},
		{Name: "LINSEED_BACKEND", Value: "sqlite"},
		{Name: "LINSEED_SQLITE_PATH", Value: "/var/lib/calico-linseed/logs.db"},
		{Name: "LINSEED_RETENTION_FLOWS", Value: "8"},
	}
	dep := &appsv1.Deployment{TypeMeta: tm("apps/v1", "Deployment"), ObjectMeta: meta(LinseedName, Namespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			// One writer of the database at a time.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: LinseedName,
					SecurityContext:    &corev1.PodSecurityContext{FSGroup: &uid},
					Containers: []corev1.Container{{
						Name: LinseedName, Image: Image("linseed", version), Env: env,
						Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: LinseedPort}, {Name: "health", ContainerPort: LinseedHealth},
							{Name: "metrics", ContainerPort: LinseedMetrics}},
						ReadinessProbe: httpProbe("/readiness", LinseedHealth), LivenessProbe: httpProbe("/liveness", LinseedHealth),
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")}},
						VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/calico-linseed/tls", ReadOnly: true},
							{Name: "data", MountPath: "/var/lib/calico-linseed"}},
						SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
					Volumes: []corev1.Volume{
						{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: LinseedTLSSecret}}},
						{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: LinseedData}}},
					},
				},
			},
		}}
	return append(LinseedRBAC(), svc, metricsService(LinseedName), pvc, dep)
}

// LogShipper is calico-log-shipper: a DaemonSet on every node (control
// plane too: it ships the API server's audit log from there) reading
// /var/log/calico and the audit log, keeping its positions under
// /var/lib/calico-log-shipper; and its RBAC. Its client certificate is
// the calico-log-shipper-tls Secret.
func LogShipper(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": LogShipperName}
	yes, no := true, false
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	hostPath := func(name, path string, t *corev1.HostPathType) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: t}}}
	}
	env := []corev1.EnvVar{
		{Name: "LINSEED_URL", Value: fmt.Sprintf("https://%s.%s.svc", LinseedName, Namespace)},
		{Name: "LINSEED_CA", Value: "/etc/calico-log-shipper/tls/ca.crt"},
		{Name: "LINSEED_CLIENT_CERT", Value: "/etc/calico-log-shipper/tls/tls.crt"},
		{Name: "LINSEED_CLIENT_KEY", Value: "/etc/calico-log-shipper/tls/tls.key"},
		{Name: "FLOW_LOG_DIR", Value: "/var/log/calico/flowlogs"},
		{Name: "DNS_LOG_DIR", Value: "/var/log/calico/dnslogs"},
		{Name: "BGP_LOG_DIR", Value: "/var/log/calico/bird"},
		{Name: "AUDIT_LOG_FILE", Value: AuditLogDir + "/audit.log"},
		{Name: "SHIPPER_STATE_DIR", Value: "/var/lib/calico-log-shipper"},
		{Name: "SHIPPER_HEALTH_LISTEN", Value: ":" + strconv.Itoa(LogShipperHealth)},
		{Name: "SHIPPER_METRICS_LISTEN", Value: ":" + strconv.Itoa(LogShipperMetrics)},
		{Name: "CLUSTER_ID", Value: "cluster"},
	}
	ds := &appsv1.DaemonSet{TypeMeta: tm("apps/v1", "DaemonSet"), ObjectMeta: meta(LogShipperName, Namespace),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: LogShipperName,
					PriorityClassName:  "system-node-critical",
					Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers: []corev1.Container{{
						Name: LogShipperName, Image: Image("log-shipper", version), Env: env,
						Ports:          []corev1.ContainerPort{{Name: "health", ContainerPort: LogShipperHealth}, {Name: "metrics", ContainerPort: LogShipperMetrics}},
						LivenessProbe:  httpProbe("/liveness", LogShipperHealth),
						ReadinessProbe: httpProbe("/readiness", LogShipperHealth),
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("25m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "calico-logs", MountPath: "/var/log/calico", ReadOnly: true},
							{Name: "audit-logs", MountPath: AuditLogDir, ReadOnly: true},
							{Name: "state", MountPath: "/var/lib/calico-log-shipper"},
							{Name: "tls", MountPath: "/etc/calico-log-shipper/tls", ReadOnly: true},
						},
						// Root only to read the nodes' log files (0644
						// files in root's directories); nothing else.
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
					Volumes: []corev1.Volume{
						hostPath("calico-logs", "/var/log/calico", &dirOrCreate),
						hostPath("audit-logs", AuditLogDir, &dirOrCreate),
						hostPath("state", "/var/lib/calico-log-shipper", &dirOrCreate),
						{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: LogShipperTLSSecret}}},
					},
				},
			},
		}}
	return append(LogShipperRBAC(), ds, metricsService(LogShipperName))
}
