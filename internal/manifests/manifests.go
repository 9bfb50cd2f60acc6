// Package manifests generates the YAML that installs the system on a real
// cluster (manifests/ at the repository root), from Go objects, so the
// lab's tests can apply and check exactly what operators apply. Each
// component has its own least-privilege RBAC.
package manifests

import (
	"bytes"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/config/crd"
	"github.com/calicong/calico/internal/admission"
	"github.com/calicong/calico/internal/datastore"
)

// Namespace is where the components run, as in Calico's calico.yaml.
const Namespace = "kube-system"

// APIServer names.
const (
	APIServerName   = "calico-apiserver"
	APIServerSecret = "calico-apiserver-certs"
	APIServerPort   = 5443
	APIServerHealth = 9095
)

// Image is a component's image for a release.
func Image(component, version string) string { return "calicong/" + component + ":" + version }

// APIServerRBAC is what calico-apiserver may do, and no more: ask
// SubjectAccessReviews, list the policies of a tier, keep its certificate
// Secret and its two webhook configurations, and give policies stored
// without it their tier label at start-up (patch them, with the tier
// rights its own webhook asks of every writer of a policy: get on the
// tier and update on the tier's policies).
func APIServerRBAC() []runtime.Object {
	var policies, tierPolicies []string
	for _, k := range datastore.PolicyKinds {
		policies = append(policies, pluralOf(k))
		tierPolicies = append(tierPolicies, "tier."+pluralOf(k))
	}
	return serviceAccountRBAC(APIServerName, []rbacv1.PolicyRule{
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: policies, Verbs: []string{"list", "patch"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"tiers"}, Verbs: []string{"get"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: tierPolicies, Verbs: []string{"update"}},
		// create cannot be limited by name; get and update can.
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}, Verbs: []string{"create"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"},
			ResourceNames: []string{admission.WebhookName}, Verbs: []string{"get", "update"}},
	}, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{APIServerSecret}, Verbs: []string{"get"}},
	})
}

// ServiceAccountRBAC is serviceAccountRBAC, for the lab's own accounts.
func ServiceAccountRBAC(name string, cluster, namespaced []rbacv1.PolicyRule) []runtime.Object {
	return serviceAccountRBAC(name, cluster, namespaced)
}

// serviceAccountRBAC is a component's ServiceAccount and, when there are
// such rules, a ClusterRole with the cluster rules bound to it and a Role
// in its namespace with the namespaced rules bound likewise. All are
// named after it.
func serviceAccountRBAC(name string, cluster, namespaced []rbacv1.PolicyRule) []runtime.Object {
	const rbacAPI = "rbac.authorization.k8s.io"
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: Namespace}}
	out := []runtime.Object{&corev1.ServiceAccount{TypeMeta: tm("v1", "ServiceAccount"), ObjectMeta: meta(name, Namespace)}}
	if len(cluster) > 0 {
		out = append(out,
			&rbacv1.ClusterRole{TypeMeta: tm(rbacAPI+"/v1", "ClusterRole"), ObjectMeta: meta(name, ""), Rules: cluster},
			&rbacv1.ClusterRoleBinding{TypeMeta: tm(rbacAPI+"/v1", "ClusterRoleBinding"), ObjectMeta: meta(name, ""),
				Subjects: subjects, RoleRef: rbacv1.RoleRef{APIGroup: rbacAPI, Kind: "ClusterRole", Name: name}})
	}
	if len(namespaced) > 0 {
		out = append(out,
			&rbacv1.Role{TypeMeta: tm(rbacAPI+"/v1", "Role"), ObjectMeta: meta(name, Namespace), Rules: namespaced},
			&rbacv1.RoleBinding{TypeMeta: tm(rbacAPI+"/v1", "RoleBinding"), ObjectMeta: meta(name, Namespace),
				Subjects: subjects, RoleRef: rbacv1.RoleRef{APIGroup: rbacAPI, Kind: "Role", Name: name}})
	}
	return out
}

// APIServerArgs are the flags the Deployment runs calico-apiserver with.
func APIServerArgs() []string {
	return []string{
		fmt.Sprintf("--secure-port=%d", APIServerPort),
		fmt.Sprintf("--health-addr=:%d", APIServerHealth),
		"--cert-secret=" + Namespace + "/" + APIServerSecret,
		"--service=" + Namespace + "/" + APIServerName,
		"--register",
	}
}

// APIServer is calico-apiserver: its RBAC, Service, Deployment and
// disruption budget. It provisions its certificate and registers its
// webhooks itself (docs/apiserver.md).
func APIServer(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": APIServerName}
	svc := &corev1.Service{TypeMeta: tm("v1", "Service"), ObjectMeta: meta(APIServerName, Namespace),
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "webhook", Port: APIServerPort,
			TargetPort: intstr.FromInt32(APIServerPort), Protocol: corev1.ProtocolTCP}}}}
	yes, no := true, false
	replicas := int32(2)
	dep := &appsv1.Deployment{TypeMeta: tm("apps/v1", "Deployment"), ObjectMeta: meta(APIServerName, Namespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: APIServerName,
					PriorityClassName:  "system-cluster-critical",
					Tolerations:        []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
					Containers: []corev1.Container{{
						Name: APIServerName, Image: Image("apiserver", version), Args: APIServerArgs(),
						Ports:          []corev1.ContainerPort{{Name: "webhook", ContainerPort: APIServerPort}, {Name: "health", ContainerPort: APIServerHealth}},
						ReadinessProbe: httpProbe("/readiness", APIServerHealth), LivenessProbe: httpProbe("/liveness", APIServerHealth),
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
						SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &yes, AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
				},
			},
		}}
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{TypeMeta: tm("policy/v1", "PodDisruptionBudget"), ObjectMeta: meta(APIServerName, Namespace),
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	return append(APIServerRBAC(), svc, dep, pdb)
}

// YAML renders objects as one multi-document file.
func YAML(header string, objs []runtime.Object) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	for _, o := range objs {
		j, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		_ = json.Unmarshal(j, &m)
		delete(m, "status") // the cluster's to write
		tidy(m)
		y, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes(), nil
}

// tidy drops what Go's zero values add and nobody writes:
// creationTimestamp: null and empty status objects, at any depth.
func tidy(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			if k == "creationTimestamp" {
				delete(m, k)
			}
		case map[string]any:
			tidy(x)
			if len(x) == 0 && (k == "status" || k == "metadata" || k == "resources") {
				delete(m, k)
			}
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					tidy(em)
				}
			}
		}
	}
}

// httpProbe asks a component's health endpoint.
func httpProbe(path string, port int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port)}},
		PeriodSeconds: 10, TimeoutSeconds: 5}
}

// deployment is a Deployment of replicas pods labelled labels, with the
// default rolling update.
func deployment(name string, replicas int32, labels map[string]string, pod corev1.PodSpec) *appsv1.Deployment {
	return &appsv1.Deployment{TypeMeta: tm("apps/v1", "Deployment"), ObjectMeta: meta(name, Namespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		}}
}

// restricted is the security context of a container that needs nothing
// of its host: not root, no capabilities, a read-only root file system.
func restricted() *corev1.SecurityContext {
	yes, no := true, false
	return &corev1.SecurityContext{RunAsNonRoot: &yes, AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

func tm(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func meta(name, ns string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/part-of": "calico"}}
}

func pluralOf(kind string) string {
	k, ok := v3.KindFor(kind)
	if !ok {
		panic("unknown kind " + kind)
	}
	return k.Plural
}

// Version is the image tag the committed manifests name.
const Version = "v0.1.0"

// Files are the files of manifests/, by name.
func Files() (map[string][]byte, error) {
	header := "# Generated by `make manifests` from internal/manifests; do not edit.\n"
	out := map[string][]byte{"crds.yaml": CRDs()}
	for _, f := range []struct {
		name, about string
		objs        []runtime.Object
	}{
		{"calico-node.yaml", "calico-node: the per-node agent and the CNI plugins' installation (docs/install.md).", Node(Version)},
		{"calico-typha.yaml", "calico-typha: fan-out between the API server and calico-node (docs/typha.md).", Typha(Version)},
		{"calico-kube-controllers.yaml", "calico-kube-controllers: IPAM garbage collection, node clean-up, LoadBalancer addresses, automatic host endpoints (docs/kube-controllers.md).", KubeControllers(Version)},
		{"calico-apiserver.yaml", "calico-apiserver: admission webhooks (docs/apiserver.md).", APIServer(Version)},
		{"calico-linseed.yaml", "calico-linseed: the log API and its store (docs/linseed.md); needs the calico-linseed-tls Secret.", Linseed(Version)},
		{"calico-prometheus.yaml", "Prometheus for Calico, without the Prometheus operator: it discovers the components' annotated metrics Services and evaluates Calico's rules (docs/prometheus.md).", Prometheus()},
		{"calico-prometheus-service.yaml", "calico-prometheus-service: the RBAC-checking proxy in front of Prometheus (docs/prometheus.md); bind calico-metrics-viewer in kube-system to whoever may query.", PrometheusService(Version)},
		{"calico-manager.yaml", "calico-manager: the web console (docs/manager.md); needs the calico-manager-tls and calico-manager-linseed-tls Secrets.", Manager(Version)},
		{"calico-intrusion-detection.yaml", "calico-intrusion-detection: threat feeds kept in GlobalNetworkSets (docs/intrusion-detection.md).", IntrusionDetection(Version)},
		{"calico-compliance.yaml", "Compliance: the snapshotter and the report types (docs/compliance.md); needs the calico-compliance-linseed-tls Secret.", Compliance(Version)},
		{"calico-packetcapture.yaml", "calico-packetcapture: the packet capture API (docs/packet-capture.md); needs the calico-packetcapture-tls and calico-packetcapture-client-tls Secrets, and calico-node the calico-node-capture-tls Secret.", PacketCapture(Version)},
		{"calico-log-shipper.yaml", "calico-log-shipper: ships each node's flow, DNS and BGP logs and the audit log to Linseed (docs/linseed.md); needs the calico-log-shipper-tls Secret.", LogShipper(Version)},
	} {
		y, err := YAML(header+"# "+f.about+"\n", f.objs)
		if err != nil {
			return nil, err
		}
		out[f.name] = y
	}
	return out, nil
}

// CRDs is crds.yaml: every projectcalico.org/v3 CustomResourceDefinition.
func CRDs() []byte {
	var b bytes.Buffer
	b.WriteString("# Generated by `make manifests` from config/crd; do not edit.\n# The projectcalico.org/v3 CustomResourceDefinitions: apply before the components.\n")
	for _, c := range crd.All() {
		b.WriteString("---\n")
		b.Write(bytes.TrimPrefix(c, []byte("---\n")))
	}
	return b.Bytes()
}

// secretVolume is a Secret mounted read-only at mount.
func secretVolume(name, mount string) (corev1.Volume, corev1.VolumeMount) {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}},
		corev1.VolumeMount{Name: name, MountPath: mount, ReadOnly: true}
}

// httpsService is a component's Service: port, to its pods' port named
// https.
func httpsService(name string, port int32, selector map[string]string) *corev1.Service {
	return &corev1.Service{TypeMeta: tm("v1", "Service"), ObjectMeta: meta(name, Namespace),
		Spec: corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Name: "https", Port: port,
			TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolTCP}}}}
}
