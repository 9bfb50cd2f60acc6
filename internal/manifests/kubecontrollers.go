package manifests

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// KubeControllers names.
const (
	KubeControllersName    = "calico-kube-controllers"
	KubeControllersMetrics = 9094
)

// KubeControllersRBAC is what calico-kube-controllers does: read pods,
// nodes and Services and write LoadBalancer status; garbage-collect IPAM;
// keep automatic host endpoints; clean up deleted nodes' status objects;
// follow and report its configuration; hold its leader Lease.
func KubeControllersRBAC() []runtime.Object {
	rw := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	return serviceAccountRBAC(KubeControllersName, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "nodes", "services"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"services/status"}, Verbs: []string{"update"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamblocks", "blockaffinities", "ipamhandles", "hostendpoints"}, Verbs: rw},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ippools", "ipamconfigurations", "ipreservations"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"caliconodestatuses"}, Verbs: []string{"get", "list", "delete"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"kubecontrollersconfigurations"}, Verbs: []string{"get", "list", "watch", "create", "update"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"kubecontrollersconfigurations/status"}, Verbs: []string{"update"}},
	}, []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{KubeControllersName}, Verbs: []string{"get", "update"}},
	})
}

// KubeControllers is calico-kube-controllers: RBAC, a Deployment (one
// replica leads at a time; a second would wait), a metrics Service for
// Prometheus and a disruption budget that lets a drain move it.
func KubeControllers(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": KubeControllersName}
	yes, no := true, false
	replicas := int32(1)
	dep := &appsv1.Deployment{TypeMeta: tm("apps/v1", "Deployment"), ObjectMeta: meta(KubeControllersName, Namespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: KubeControllersName,
					PriorityClassName:  "system-cluster-critical",
					NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
					Tolerations:        []corev1.Toleration{{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists}, {Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
					Containers: []corev1.Container{{
						Name: KubeControllersName, Image: Image("kube-controllers", version),
						Args:           []string{"--lease-namespace=" + Namespace},
						Ports:          []corev1.ContainerPort{{Name: "metrics", ContainerPort: KubeControllersMetrics}},
						ReadinessProbe: httpProbe("/readiness", KubeControllersMetrics), LivenessProbe: httpProbe("/liveness", KubeControllersMetrics),
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
						SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: ptr(int64(999)), AllowPrivilegeEscalation: &no,
							ReadOnlyRootFilesystem: &yes, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
				},
			},
		}}
	pdb := &policyv1.PodDisruptionBudget{TypeMeta: tm("policy/v1", "PodDisruptionBudget"), ObjectMeta: meta(KubeControllersName, Namespace),
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	return append(KubeControllersRBAC(), dep, metricsService(KubeControllersName), pdb)
}
