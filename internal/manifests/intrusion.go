package manifests

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// IntrusionDetection names.
const (
	IntrusionDetectionName    = "calico-intrusion-detection"
	IntrusionDetectionMetrics = 9099
)

// IntrusionDetectionRBAC is what calico-intrusion-detection does: read
// the threat feeds and write their status; keep their GlobalNetworkSets;
// read its namespace's Secrets and ConfigMaps that feed headers name
// (globalthreatfeed-*, enforced by validation); hold its leader Lease.
func IntrusionDetectionRBAC() []runtime.Object {
	return serviceAccountRBAC(IntrusionDetectionName, []rbacv1.PolicyRule{
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"globalthreatfeeds", "globalalerts", "globalalerttemplates", "alertexceptions", "securityeventwebhooks"},
			Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"globalthreatfeeds/status", "globalalerts/status", "securityeventwebhooks/status"}, Verbs: []string{"update"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"globalnetworksets"}, Verbs: []string{"get", "list", "watch", "create", "update", "delete"}},
	}, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"get"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{IntrusionDetectionName}, Verbs: []string{"get", "update"}},
	})
}

// IntrusionDetection is calico-intrusion-detection: RBAC, a Deployment
// (one replica leads at a time) and a metrics Service.
func IntrusionDetection(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": IntrusionDetectionName}
	yes, no := true, false
	replicas := int32(1)
	dep := &appsv1.Deployment{TypeMeta: tm("apps/v1", "Deployment"), ObjectMeta: meta(IntrusionDetectionName, Namespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: IntrusionDetectionName,
					NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
					Containers: []corev1.Container{{
						Name: IntrusionDetectionName, Image: Image("intrusion-detection", version),
						Env:            []corev1.EnvVar{{Name: "NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}},
						Ports:          []corev1.ContainerPort{{Name: "metrics", ContainerPort: IntrusionDetectionMetrics}},
						ReadinessProbe: httpProbe("/readiness", IntrusionDetectionMetrics), LivenessProbe: httpProbe("/liveness", IntrusionDetectionMetrics),
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
						SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: ptr(int64(999)), AllowPrivilegeEscalation: &no,
							ReadOnlyRootFilesystem: &yes, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
				},
			},
		}}
	return append(IntrusionDetectionRBAC(), dep, MetricsService(IntrusionDetectionName, IntrusionDetectionMetrics))
}
