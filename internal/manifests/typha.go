package manifests

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/typha/discovery"
)

// Typha names.
const (
	TyphaName   = "calico-typha"
	TyphaHealth = 9098
)

// TyphaRBAC lets calico-typha list and watch exactly what its syncers
// read (datastore.SyncerReads), which also covers the node and endpoint
// counts of its connection limit.
func TyphaRBAC() []runtime.Object {
	byGroup := map[string][]string{}
	var groups []string
	for _, st := range []string{datastore.SyncerFelix, datastore.SyncerBGP} {
		reads, err := datastore.SyncerReads(st)
		if err != nil {
			panic(err)
		}
		for _, r := range reads {
			if _, ok := byGroup[r.Group]; !ok {
				groups = append(groups, r.Group)
			}
			for _, res := range r.Resources {
				if !contains(byGroup[r.Group], res) {
					byGroup[r.Group] = append(byGroup[r.Group], res)
				}
			}
		}
	}
	var rules []rbacv1.PolicyRule
	for _, g := range groups {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: byGroup[g], Verbs: []string{"list", "watch"}})
	}
	return serviceAccountRBAC(TyphaName, rules, nil)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TyphaEnv is calico-typha's configuration in the manifests.
func TyphaEnv() []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "TYPHA_LOGSEVERITYSCREEN", Value: "info"},
		{Name: "TYPHA_HEALTHENABLED", Value: "true"},
		{Name: "TYPHA_HEALTHPORT", Value: strconv.Itoa(TyphaHealth)},
		{Name: "TYPHA_PROMETHEUSMETRICSENABLED", Value: "true"},
		{Name: "TYPHA_CONNECTIONREBALANCINGMODE", Value: "kubernetes"},
		{Name: "TYPHA_K8SSERVICENAME", Value: TyphaName},
		{Name: "TYPHA_K8SNAMESPACE", Value: Namespace},
		{Name: "TYPHA_SHUTDOWNTIMEOUTSECS", Value: "300"},
	}
}

// Typha is calico-typha: RBAC, Service, Deployment (host network, as
// calico-node reaches it before pod networking exists) and disruption
// budget. Scale replicas with the cluster: one per 100-200 nodes, at least
// three once there are three nodes (docs/typha.md).
func Typha(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": TyphaName}
	svc := &corev1.Service{TypeMeta: tm("v1", "Service"), ObjectMeta: meta(TyphaName, Namespace),
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: discovery.PortName, Port: discovery.DefaultPort,
			TargetPort: intstr.FromString(discovery.PortName), Protocol: corev1.ProtocolTCP}}}}
	yes, no := true, false
	replicas := int32(1)
	grace := int64(300)
	dep := &appsv1.Deployment{TypeMeta: tm("apps/v1", "Deployment"), ObjectMeta: meta(TyphaName, Namespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(intstr.FromInt32(1)), MaxSurge: ptr(intstr.FromInt32(0))}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName:            TyphaName,
					HostNetwork:                   true,
					PriorityClassName:             "system-cluster-critical",
					TerminationGracePeriodSeconds: &grace,
					NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
					Tolerations:                   []corev1.Toleration{{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists}, {Effect: corev1.TaintEffectNoSchedule, Operator: corev1.TolerationOpExists}},
					// One replica per node: clients prefer their node's.
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
						LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: "kubernetes.io/hostname"}}}},
					Containers: []corev1.Container{{
						Name: TyphaName, Image: Image("typha", version), Env: TyphaEnv(),
						Ports: []corev1.ContainerPort{{Name: discovery.PortName, ContainerPort: discovery.DefaultPort, Protocol: corev1.ProtocolTCP},
							{Name: MetricsPortName, ContainerPort: TyphaMetrics, Protocol: corev1.ProtocolTCP}},
						ReadinessProbe: httpProbe("/readiness", TyphaHealth), LivenessProbe: httpProbe("/liveness", TyphaHealth),
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")}},
						SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: ptr(int64(999)), AllowPrivilegeEscalation: &no,
							ReadOnlyRootFilesystem: &yes, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
				},
			},
		}}
	pdb := &policyv1.PodDisruptionBudget{TypeMeta: tm("policy/v1", "PodDisruptionBudget"), ObjectMeta: meta(TyphaName, Namespace),
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	return append(TyphaRBAC(), svc, metricsService(TyphaName), dep, pdb)
}

func ptr[T any](v T) *T { return &v }
