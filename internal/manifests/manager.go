package manifests

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The console's names.
const (
	ManagerName = "calico-manager"
	ManagerPort = 9443
)

// ManagerRBAC is what calico-manager does as itself: check its users'
// tokens and access (TokenReviews, SubjectAccessReviews) and read the
// logs in Linseed it has checked they may see. Everything else it does
// with the user's own token.
func ManagerRBAC() []runtime.Object {
	return serviceAccountRBAC(ManagerName, []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{LinseedAPIGroup}, Resources: []string{"flowlogs", "flows", "dnslogs", "auditlogs", "ee_auditlogs", "kube_auditlogs",
			"bgplogs", "events"}, Verbs: []string{"get"}},
		// Security events are dismissed and deleted for users allowed it
		// (the console checks them first).
		{APIGroups: []string{LinseedAPIGroup}, Resources: []string{"events"}, Verbs: []string{"dismiss", "delete"}},
		// Compliance reports, for users allowed their GlobalReports.
		{APIGroups: []string{LinseedAPIGroup}, Resources: []string{"compliancereports"}, Verbs: []string{"get"}},
	}, nil)
}

// The console's Secrets: its serving certificate (tls.crt, tls.key), and
// its client certificate towards Linseed with the CA of Linseed's
// (tls.crt, tls.key, ca.crt).
const (
	ManagerTLSSecret        = "calico-manager-tls"
	ManagerLinseedTLSSecret = "calico-manager-linseed-tls"
)

// Manager is calico-manager, the web console: two replicas behind the
// Service calico-manager on 9443 (HTTPS only; expose it with your
// ingress or a port-forward), and its RBAC. It reads Linseed with its
// client certificate and ServiceAccount token, and sends /prometheus/
// to the Prometheus API service.
func Manager(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": ManagerName}
	replicas := int32(2)
	env := []corev1.EnvVar{
		{Name: "MANAGER_LISTEN", Value: fmt.Sprintf(":%d", ManagerPort)},
		{Name: "TLS_CERT_FILE", Value: "/etc/calico-manager/tls/tls.crt"},
		{Name: "TLS_KEY_FILE", Value: "/etc/calico-manager/tls/tls.key"},
		{Name: "LINSEED_URL", Value: fmt.Sprintf("https://%s.%s.svc", LinseedName, Namespace)},
		{Name: "LINSEED_CA", Value: "/etc/calico-manager/linseed/ca.crt"},
		{Name: "LINSEED_CLIENT_CERT", Value: "/etc/calico-manager/linseed/tls.crt"},
		{Name: "LINSEED_CLIENT_KEY", Value: "/etc/calico-manager/linseed/tls.key"},
		{Name: "PROMETHEUS_URL", Value: fmt.Sprintf("http://%s.%s.svc:%d", PrometheusAPIService, Namespace, PrometheusPort)},
		{Name: "PACKETCAPTURE_URL", Value: PacketCaptureURL},
		{Name: "PACKETCAPTURE_CA", Value: "/etc/calico-manager/linseed/ca.crt"},
		{Name: "CLUSTER_ID", Value: "cluster"},
	}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(ManagerPort),
		Scheme: corev1.URISchemeHTTPS}}, PeriodSeconds: 10, TimeoutSeconds: 5}
	tlsVol, tlsMount := secretVolume(ManagerTLSSecret, "/etc/calico-manager/tls")
	lsVol, lsMount := secretVolume(ManagerLinseedTLSSecret, "/etc/calico-manager/linseed")
	dep := deployment(ManagerName, replicas, labels, corev1.PodSpec{
		ServiceAccountName: ManagerName,
		Containers: []corev1.Container{{
			Name: ManagerName, Image: Image("manager", version), Env: env,
			Ports:          []corev1.ContainerPort{{Name: "https", ContainerPort: ManagerPort}},
			ReadinessProbe: probe, LivenessProbe: probe,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
			VolumeMounts:    []corev1.VolumeMount{tlsMount, lsMount},
			SecurityContext: restricted(),
		}},
		Volumes: []corev1.Volume{tlsVol, lsVol},
	})
	svc := httpsService(ManagerName, ManagerPort, labels)
	return append(ManagerRBAC(), dep, svc)
}
