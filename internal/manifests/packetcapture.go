package manifests

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The packet capture API's names (docs/packet-capture.md).
const (
	PacketCaptureName    = "calico-packetcapture"
	PacketCapturePort    = 8444
	PacketCaptureMetrics = 8445
	// NodeCaptureFilesPort is calico-node's capture file service on each
	// node (host network), reached only by the packet capture API.
	NodeCaptureFilesPort = 9900
	// NodeCaptureFilesCN is the common name of the file service's
	// certificate, which the API checks.
	NodeCaptureFilesCN = "calico-node-files"
	// PacketCaptureTLSSecret is the API's serving certificate (tls.crt,
	// tls.key); PacketCaptureClientTLSSecret its client certificate
	// towards the nodes (tls.crt, tls.key, with CN calico-packetcapture)
	// and the CA of theirs (ca.crt); NodeCaptureFilesTLSSecret the nodes'
	// certificate (tls.crt, tls.key, CN calico-node-files) and the CA of
	// the API's (ca.crt).
	PacketCaptureTLSSecret       = "calico-packetcapture-tls"
	PacketCaptureClientTLSSecret = "calico-packetcapture-client-tls"
	NodeCaptureFilesTLSSecret    = "calico-node-capture-tls"
)

// nodeCaptureFiles is what calico-node's container gains for its capture
// file service: the Secret's files and where to find them. The Secret is
// optional: without it calico-node captures but does not serve files.
func nodeCaptureFiles() ([]corev1.EnvVar, corev1.Volume, corev1.VolumeMount) {
	const dir = "/etc/calico/capture-tls"
	env := []corev1.EnvVar{
		{Name: "CAPTURE_FILES_LISTEN", Value: ":" + strconv.Itoa(NodeCaptureFilesPort)},
		{Name: "CAPTURE_FILES_CA_FILE", Value: dir + "/ca.crt"},
		{Name: "CAPTURE_FILES_CERT_FILE", Value: dir + "/tls.crt"},
		{Name: "CAPTURE_FILES_KEY_FILE", Value: dir + "/tls.key"},
		{Name: "CAPTURE_FILES_CLIENT_CN", Value: PacketCaptureName},
	}
	vol := corev1.Volume{Name: "capture-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: NodeCaptureFilesTLSSecret, Optional: ptr(true)}}}
	return env, vol, corev1.VolumeMount{Name: "capture-tls", MountPath: dir, ReadOnly: true}
}

// PacketCaptureRBAC lets calico-packetcapture check its callers, read
// PacketCaptures (which nodes hold files) and Nodes (their addresses).
func PacketCaptureRBAC() []runtime.Object {
	return serviceAccountRBAC(PacketCaptureName, []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"projectcalico.org", "crd.projectcalico.org"}, Resources: []string{"packetcaptures"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}},
	}, nil)
}

// PacketCaptureFilesRoles are the ClusterRoles to bind, with a RoleBinding
// in a namespace, to whoever may download (calico-packetcapture-viewer)
// or also delete (calico-packetcapture-admin) that namespace's captures.
func PacketCaptureFilesRoles() []runtime.Object {
	role := func(name string, verbs ...string) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: meta(name, ""),
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"projectcalico.org"}, Resources: []string{"packetcaptures"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
				{APIGroups: []string{"projectcalico.org"}, Resources: []string{"packetcaptures/files"}, Verbs: verbs},
			}}
	}
	return []runtime.Object{role("calico-packetcapture-viewer", "get"), role("calico-packetcapture-admin", "get", "delete")}
}

// PacketCapture is calico-packetcapture: its RBAC and the roles for its
// users, a Deployment of two replicas, and its Service on 8444 (HTTPS),
// where calico-manager sends /packet-capture/.
func PacketCapture(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": PacketCaptureName}
	const tlsDir, clientDir = "/etc/calico-packetcapture/tls", "/etc/calico-packetcapture/nodes"
	env := []corev1.EnvVar{
		{Name: "LISTEN_ADDR", Value: ":" + strconv.Itoa(PacketCapturePort)},
		{Name: "METRICS_LISTEN", Value: ":" + strconv.Itoa(PacketCaptureMetrics)},
		{Name: "TLS_CERT_FILE", Value: tlsDir + "/tls.crt"},
		{Name: "TLS_KEY_FILE", Value: tlsDir + "/tls.key"},
		{Name: "NODE_FILES_PORT", Value: strconv.Itoa(NodeCaptureFilesPort)},
		{Name: "NODE_FILES_CA_FILE", Value: clientDir + "/ca.crt"},
		{Name: "NODE_FILES_CERT_FILE", Value: clientDir + "/tls.crt"},
		{Name: "NODE_FILES_KEY_FILE", Value: clientDir + "/tls.key"},
		{Name: "NODE_FILES_CN", Value: NodeCaptureFilesCN},
		{Name: "AUTH_CACHE_TTL", Value: "10s"},
	}
	tlsVol, tlsMount := secretVolume(PacketCaptureTLSSecret, tlsDir)
	clVol, clMount := secretVolume(PacketCaptureClientTLSSecret, clientDir)
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(PacketCapturePort),
		Scheme: corev1.URISchemeHTTPS}}, PeriodSeconds: 10, TimeoutSeconds: 5}
	dep := deployment(PacketCaptureName, 2, labels, corev1.PodSpec{
		ServiceAccountName: PacketCaptureName,
		Containers: []corev1.Container{{
			Name: PacketCaptureName, Image: Image("packetcapture", version), Env: env,
			Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: PacketCapturePort},
				{Name: "metrics", ContainerPort: PacketCaptureMetrics}},
			ReadinessProbe: probe, LivenessProbe: probe,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
			VolumeMounts:    []corev1.VolumeMount{tlsMount, clMount},
			SecurityContext: restricted(),
		}},
		Volumes: []corev1.Volume{tlsVol, clVol},
	})
	svc := httpsService(PacketCaptureName, PacketCapturePort, labels)
	return append(append(PacketCaptureRBAC(), PacketCaptureFilesRoles()...), dep, svc, metricsService(PacketCaptureName))
}

// PacketCaptureURL is where the console reaches the API in a cluster.
var PacketCaptureURL = fmt.Sprintf("https://%s.%s.svc:%d", PacketCaptureName, Namespace, PacketCapturePort)
