package manifests

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
)

// Compliance names.
const (
	ComplianceSnapshotterName = "calico-compliance-snapshotter"
	ComplianceControllerName  = "calico-compliance-controller"
	ComplianceReporterName    = "calico-compliance-reporter"
	ComplianceBenchmarkerName = "calico-compliance-benchmarker"
	ComplianceMetrics         = 9099
	// ComplianceLinseedTLSSecret holds the components' client
	// certificate towards Linseed and the CA of Linseed's.
	ComplianceLinseedTLSSecret = "calico-compliance-linseed-tls"
)

// snapshotted are the resources the snapshotter lists
// (compliance/snapshot.Resources).
var snapshotted = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "serviceaccounts", "services"}, Verbs: []string{"list"}},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"list"}},
	{APIGroups: []string{"projectcalico.org"}, Resources: []string{"tiers", "networkpolicies", "globalnetworkpolicies", "stagednetworkpolicies",
		"stagedglobalnetworkpolicies", "stagedkubernetesnetworkpolicies", "networksets", "globalnetworksets", "hostendpoints"}, Verbs: []string{"list"}},
}

// ComplianceSnapshotterRBAC lists the snapshotted resources and reads
// and writes snapshots in Linseed.
func ComplianceSnapshotterRBAC() []runtime.Object {
	return serviceAccountRBAC(ComplianceSnapshotterName, append(slices.Clone(snapshotted),
		rbacv1.PolicyRule{APIGroups: []string{LinseedAPIGroup}, Resources: []string{"snapshots"}, Verbs: []string{"get", "create"}}), nil)
}

// ComplianceControllerRBAC reads the reports and writes their status,
// runs their jobs in its namespace, and holds its Lease.
func ComplianceControllerRBAC() []runtime.Object {
	return serviceAccountRBAC(ComplianceControllerName, []rbacv1.PolicyRule{
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"globalreports"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"globalreports/status"}, Verbs: []string{"update"}},
	}, []rbacv1.PolicyRule{
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create", "get", "list"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{ComplianceControllerName}, Verbs: []string{"get", "update"}},
	})
}

// ComplianceReporterRBAC is the report jobs': the report and its type,
// the snapshots and audit logs they replay, the reports they store.
func ComplianceReporterRBAC() []runtime.Object {
	return serviceAccountRBAC(ComplianceReporterName, []rbacv1.PolicyRule{
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"globalreports", "globalreporttypes"}, Verbs: []string{"get"}},
		{APIGroups: []string{LinseedAPIGroup}, Resources: []string{"snapshots", "auditlogs", "flowlogs", "benchmarks"}, Verbs: []string{"get"}},
		{APIGroups: []string{LinseedAPIGroup}, Resources: []string{"compliancereports"}, Verbs: []string{"create"}},
	}, nil)
}

// ComplianceBenchmarkerRBAC writes benchmark results to Linseed.
func ComplianceBenchmarkerRBAC() []runtime.Object {
	return serviceAccountRBAC(ComplianceBenchmarkerName, []rbacv1.PolicyRule{
		{APIGroups: []string{LinseedAPIGroup}, Resources: []string{"benchmarks"}, Verbs: []string{"create"}},
	}, nil)
}

// ComplianceBenchmarker is the CIS benchmark's DaemonSet: on every node
// (control plane too, where the control-plane checks apply), seeing the
// node's processes (host PID namespace) and its files (/ read-only at
// /host), running as root only to read root's files.
func ComplianceBenchmarker(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": ComplianceBenchmarkerName}
	yes, no := true, false
	ds := &appsv1.DaemonSet{TypeMeta: tm("apps/v1", "DaemonSet"), ObjectMeta: meta(ComplianceBenchmarkerName, Namespace),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: ComplianceBenchmarkerName,
					HostPID:            true,
					NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
					Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers: []corev1.Container{{
						Name: "benchmarker", Image: Image("compliance", version), Args: []string{"benchmarker"},
						Env: []corev1.EnvVar{
							{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
							{Name: "HOST_ROOT", Value: "/host"},
							{Name: "LINSEED_URL", Value: fmt.Sprintf("https://%s.%s.svc", LinseedName, Namespace)},
							{Name: "LINSEED_CA", Value: "/etc/calico-compliance/linseed/ca.crt"},
							{Name: "LINSEED_CLIENT_CERT", Value: "/etc/calico-compliance/linseed/tls.crt"},
							{Name: "LINSEED_CLIENT_KEY", Value: "/etc/calico-compliance/linseed/tls.key"},
							{Name: "CLUSTER_ID", Value: "cluster"},
						},
						Ports:          []corev1.ContainerPort{{Name: "metrics", ContainerPort: ComplianceMetrics}},
						ReadinessProbe: httpProbe("/readiness", ComplianceMetrics), LivenessProbe: httpProbe("/liveness", ComplianceMetrics),
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "host", MountPath: "/host", ReadOnly: true},
							{Name: "linseed-tls", MountPath: "/etc/calico-compliance/linseed", ReadOnly: true},
						},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"DAC_READ_SEARCH"}}},
					}},
					Volumes: []corev1.Volume{
						{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
						{Name: "linseed-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: ComplianceLinseedTLSSecret}}},
					},
				},
			},
		}}
	return append(ComplianceBenchmarkerRBAC(), ds, MetricsService(ComplianceBenchmarkerName, ComplianceMetrics))
}

// Compliance is compliance's report types; its snapshotter (one
// replica: snapshots are idempotent, and a second would only write the
// same lists); its controller (one replica leads) and the RBAC of the
// report jobs it creates.
func Compliance(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": ComplianceSnapshotterName}
	dep := deployment(ComplianceSnapshotterName, 1, labels, corev1.PodSpec{
		ServiceAccountName: ComplianceSnapshotterName,
		NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
		Volumes: []corev1.Volume{{Name: "linseed-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: ComplianceLinseedTLSSecret}}}},
		Containers: []corev1.Container{{
			Name: "snapshotter", Image: Image("compliance", version), Args: []string{"snapshotter"},
			Env: []corev1.EnvVar{
				{Name: "LINSEED_URL", Value: fmt.Sprintf("https://%s.%s.svc", LinseedName, Namespace)},
				{Name: "LINSEED_CA", Value: "/etc/calico-compliance/linseed/ca.crt"},
				{Name: "LINSEED_CLIENT_CERT", Value: "/etc/calico-compliance/linseed/tls.crt"},
				{Name: "LINSEED_CLIENT_KEY", Value: "/etc/calico-compliance/linseed/tls.key"},
				{Name: "CLUSTER_ID", Value: "cluster"},
			},
			VolumeMounts:   []corev1.VolumeMount{{Name: "linseed-tls", MountPath: "/etc/calico-compliance/linseed", ReadOnly: true}},
			Ports:          []corev1.ContainerPort{{Name: "metrics", ContainerPort: ComplianceMetrics}},
			ReadinessProbe: httpProbe("/readiness", ComplianceMetrics), LivenessProbe: httpProbe("/liveness", ComplianceMetrics),
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
			SecurityContext: restricted(),
		}},
	})
	ctlLabels := map[string]string{"k8s-app": ComplianceControllerName}
	ctl := deployment(ComplianceControllerName, 1, ctlLabels, corev1.PodSpec{
		ServiceAccountName: ComplianceControllerName,
		NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
		Containers: []corev1.Container{{
			Name: "controller", Image: Image("compliance", version), Args: []string{"controller"},
			Env: []corev1.EnvVar{
				{Name: "NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
				{Name: "JOB_IMAGE", Value: Image("compliance", version)},
				{Name: "JOB_SERVICE_ACCOUNT", Value: ComplianceReporterName},
				{Name: "JOB_LINSEED_SECRET", Value: ComplianceLinseedTLSSecret},
				{Name: "LINSEED_URL", Value: fmt.Sprintf("https://%s.%s.svc", LinseedName, Namespace)},
			},
			Ports:          []corev1.ContainerPort{{Name: "metrics", ContainerPort: ComplianceMetrics}},
			ReadinessProbe: httpProbe("/readiness", ComplianceMetrics), LivenessProbe: httpProbe("/liveness", ComplianceMetrics),
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
			SecurityContext: restricted(),
		}},
	})
	objs := append(ComplianceSnapshotterRBAC(), dep, MetricsService(ComplianceSnapshotterName, ComplianceMetrics))
	objs = append(append(objs, ComplianceControllerRBAC()...), ctl, MetricsService(ComplianceControllerName, ComplianceMetrics))
	objs = append(objs, ComplianceReporterRBAC()...)
	objs = append(objs, ComplianceBenchmarker(version)...)
	return append(objs, ReportTypes()...)
}

//go:embed reporttypes/*.yaml
var reportTypeFiles embed.FS

// ReportTypes are the GlobalReportTypes compliance ships, as Calico
// Enterprise's: inventory, network-access, policy-audit and
// cis-benchmark, each with its console summary and its downloads
// (reporttypes/*.yaml).
func ReportTypes() []runtime.Object {
	names, _ := fs.Glob(reportTypeFiles, "reporttypes/*.yaml")
	slices.Sort(names)
	out := make([]runtime.Object, 0, len(names))
	for _, n := range names {
		data, _ := reportTypeFiles.ReadFile(n)
		var t v3.GlobalReportType
		if err := yaml.UnmarshalStrict(data, &t); err != nil {
			panic(fmt.Sprintf("%s: %v", n, err)) // embedded: a test reads them all
		}
		out = append(out, &t)
	}
	return out
}
