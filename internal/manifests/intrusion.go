package manifests

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/calicong/calico/api/v3"
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
		// Linseed: the logs searched and alerted on, the events written
		// and delivered.
		{APIGroups: []string{LinseedAPIGroup}, Resources: []string{"flowlogs", "dnslogs", "auditlogs", "threatfeeds_ipset", "threatfeeds_domainnameset"},
			Verbs: []string{"get"}},
		{APIGroups: []string{LinseedAPIGroup}, Resources: []string{"events"}, Verbs: []string{"get", "create"}},
	}, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"get"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{IntrusionDetectionName}, Verbs: []string{"get", "update"}},
	})
}

// IntrusionDetectionLinseedTLSSecret holds its client certificate
// towards Linseed and the CA of Linseed's (tls.crt, tls.key, ca.crt).
const IntrusionDetectionLinseedTLSSecret = "calico-intrusion-detection-linseed-tls"

// IntrusionDetection is calico-intrusion-detection: RBAC, a Deployment
// (one replica leads at a time), a metrics Service, and the shipped
// alert templates.
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
					Volumes: []corev1.Volume{{Name: "linseed-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
						SecretName: IntrusionDetectionLinseedTLSSecret}}}},
					NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
					Containers: []corev1.Container{{
						Name: IntrusionDetectionName, Image: Image("intrusion-detection", version),
						Env: []corev1.EnvVar{{Name: "NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
							{Name: "LINSEED_URL", Value: fmt.Sprintf("https://%s.%s.svc", LinseedName, Namespace)},
							{Name: "LINSEED_CA", Value: "/etc/calico-intrusion-detection/linseed/ca.crt"},
							{Name: "LINSEED_CLIENT_CERT", Value: "/etc/calico-intrusion-detection/linseed/tls.crt"},
							{Name: "LINSEED_CLIENT_KEY", Value: "/etc/calico-intrusion-detection/linseed/tls.key"},
							{Name: "CLUSTER_ID", Value: "cluster"}},
						VolumeMounts:   []corev1.VolumeMount{{Name: "linseed-tls", MountPath: "/etc/calico-intrusion-detection/linseed", ReadOnly: true}},
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
	return append(append(IntrusionDetectionRBAC(), dep, MetricsService(IntrusionDetectionName, IntrusionDetectionMetrics)), AlertTemplates()...)
}

// AlertTemplates are the GlobalAlertTemplates shipped with intrusion
// detection, the console's "new from template" list: a port scan,
// denied traffic into protected namespaces, and a policy deleted.
func AlertTemplates() []runtime.Object {
	d := func(m time.Duration) *metav1.Duration { return &metav1.Duration{Duration: m} }
	t := func(name string, spec v3.GlobalAlertSpec) runtime.Object {
		spec.Type = "RuleBased"
		return &v3.GlobalAlertTemplate{TypeMeta: tm(v3.GroupVersionString, "GlobalAlertTemplate"),
			ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	}
	return []runtime.Object{
		t("port-scan", v3.GlobalAlertSpec{
			Summary:     "Possible port scan from ${source_namespace}/${source_name_aggr}",
			Description: "${source_namespace}/${source_name_aggr} made ${count} connections that policy denied in 10 minutes: it may be probing for open ports.",
			Severity:    70, DataSet: "flows", Period: d(5 * time.Minute), Lookback: d(10 * time.Minute),
			Query: "action = deny AND reporter = dst", AggregateBy: []string{"source_namespace", "source_name_aggr"},
			Metric: "count", Condition: "gt", Threshold: 50,
		}),
		t("denied-to-namespace", v3.GlobalAlertSpec{
			Summary:     "Denied traffic into ${dest_namespace}",
			Description: "${source_namespace} sent ${count} connections into ${dest_namespace} that policy denied.",
			Severity:    50, DataSet: "flows", Period: d(5 * time.Minute), Lookback: d(10 * time.Minute),
			Query:         "action = deny AND dest_namespace IN ${protected}",
			Substitutions: []v3.GlobalAlertSubstitution{{Name: "protected", Values: []string{"kube-system", "calico-system"}}},
			AggregateBy:   []string{"source_namespace", "dest_namespace"}, Metric: "count", Condition: "gt", Threshold: 0,
		}),
		t("policy-deleted", v3.GlobalAlertSpec{
			Summary:     "${user.username} deleted ${objectRef.resource} ${objectRef.name}",
			Description: "${user.username} deleted the ${objectRef.resource} ${objectRef.name}: traffic it decided is now decided by the policies after it.",
			Severity:    40, DataSet: "audit", Period: d(time.Minute), Lookback: d(5 * time.Minute),
			Query:       `verb = delete AND objectRef.resource IN {"networkpolicies", "globalnetworkpolicies", "stagednetworkpolicies", "stagedglobalnetworkpolicies", "tiers"}`,
			AggregateBy: []string{"user.username", "objectRef.resource", "objectRef.name"},
		}),
	}
}
