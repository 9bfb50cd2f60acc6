package manifests

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/calicong/calico/internal/cniinstall"
	"github.com/calicong/calico/internal/cnitoken"
	"github.com/calicong/calico/internal/datastore"
)

// NodeName is calico-node's ServiceAccount and roles.
const NodeName = "calico-node"

// CalicoNodeRBAC is what calico-node does: read what Felix's and confd's
// syncers read (directly, when there is no Typha); start-up (its Node's
// addresses and annotations, the default pool, the cluster's initial
// objects); the VXLAN tunnel address through IPAM; CalicoNodeStatus
// reports; finding Typha's endpoints; and tokens for the CNI plugins.
func CalicoNodeRBAC() []runtime.Object {
	var rules []rbacv1.PolicyRule
	seen := map[string]bool{}
	for _, st := range []string{datastore.SyncerFelix, datastore.SyncerBGP} {
		reads, err := datastore.SyncerReads(st)
		if err != nil {
			panic(err)
		}
		for _, r := range reads {
			var res []string
			for _, x := range r.Resources {
				if !seen[r.Group+"/"+x] {
					seen[r.Group+"/"+x] = true
					res = append(res, x)
				}
			}
			if len(res) > 0 {
				rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{r.Group}, Resources: res, Verbs: []string{"get", "list", "watch"}})
			}
		}
	}
	rw := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	rules = append(rules,
		// Flow logs name the Service a connection went to.
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"patch", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes/status"}, Verbs: []string{"patch", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamhandles", "blockaffinities"}, Verbs: rw},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamblocks"}, Verbs: []string{"create", "update", "patch", "delete"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamconfigurations", "ipreservations"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ippools", "felixconfigurations", "clusterinformations", "tiers"}, Verbs: []string{"create", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"caliconodestatuses"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"caliconodestatuses/status"}, Verbs: []string{"update", "patch"}},
		// Packet capture: the captures, and this node's entry of their
		// status (the pods it captures come in Felix's stream).
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"packetcaptures"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"packetcaptures/status"}, Verbs: []string{"update", "patch"}},
	)
	// BGP passwords come from Secrets the operator names and grants by
	// name (docs/install.md); no blanket access to kube-system's Secrets.
	return serviceAccountRBAC(NodeName, rules, []rbacv1.PolicyRule{
		// The CNI plugins' token, for their kubeconfig (internal/cnitoken).
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, ResourceNames: []string{CNIPluginName}, Verbs: []string{"create"}},
	})
}

// CNIPluginName is the CNI plugins' ServiceAccount and role: the plugins
// run on the host with a token of it that calico-node keeps fresh.
const CNIPluginName = cnitoken.DefaultServiceAccount

// CNIPluginRBAC is what the calico and calico-ipam plugins do: read the
// pod, its namespace and node, record the pod's addresses in its
// annotations, and allocate and release addresses through IPAM.
func CNIPluginRBAC() []runtime.Object {
	return serviceAccountRBAC(CNIPluginName, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "nodes"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"pods/status"}, Verbs: []string{"patch"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamblocks", "ipamhandles", "blockaffinities"},
			Verbs: []string{"get", "list", "create", "update", "delete"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ippools", "ipamconfigurations", "ipreservations"},
			Verbs: []string{"get", "list"}},
	}, nil)
}

// Node names and ports.
const (
	NodeConfigMap = "calico-config"
	NodeHealth    = 9099
	// NodeImageBinDir is where the node image keeps its programs;
	// NodeImageCNIDir the plugins calico-cni-install copies to the host.
	NodeImageBinDir = "/usr/local/bin"
	NodeImageCNIDir = "/opt/cni/bin"
)

// CNINetworkConfig is the CNI configuration list calico-cni-install
// writes to every node (CNI_NETWORK_CONFIG, from the ConfigMap), with
// its placeholders.
const CNINetworkConfig = `{
  "name": "k8s-pod-network",
  "cniVersion": "1.1.0",
  "plugins": [
    {
      "type": "calico",
      "log_level": "info",
      "log_file_path": "/var/log/calico/cni/cni.log",
      "datastore_type": "kubernetes",
      "nodename": "__KUBERNETES_NODE_NAME__",
      "mtu": __CNI_MTU__,
      "ipam": {"type": "calico-ipam"},
      "policy": {"type": "k8s"},
      "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__"}
    }
  ]
}`

// NodeConfig is calico-config: what operators change without touching
// the DaemonSet (docs/install.md).
func NodeConfig() *corev1.ConfigMap {
	return &corev1.ConfigMap{TypeMeta: tm("v1", "ConfigMap"), ObjectMeta: meta(NodeConfigMap, Namespace), Data: map[string]string{
		// Typha's Service; "none" or empty: every calico-node watches the
		// API server.
		"typha_service_name": TyphaName,
		// bird (BGP), vxlan or none (policy only).
		"calico_backend": "bird",
		// The pods' MTU: 1450 leaves room for VXLAN on a 1500 network.
		"veth_mtu":           "1450",
		"cni_network_config": CNINetworkConfig,
	}}
}

// NodePodSpec is calico-node's pod: an init container that installs the
// CNI plugins and their configuration on the host (calico-cni-install),
// then the agent, which keeps the plugins' token fresh, programs policy
// and routes, and runs BIRD. The lab runs both with this environment.
func NodePodSpec(version string) corev1.PodSpec {
	image := Image("node", version)
	fromConfig := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: NodeConfigMap}, Key: key}}}
	}
	fromField := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	hostDir := func(name, path string) corev1.Volume {
		t := corev1.HostPathDirectoryOrCreate
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &t}}}
	}
	// Clusters whose Service network needs kube-proxy name the API
	// server's real address here (KUBERNETES_SERVICE_HOST/PORT), as in
	// Calico's kubernetes-services-endpoint.
	apiEndpoint := []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "kubernetes-services-endpoint"}, Optional: ptr(true)}}}
	yes := true
	install := corev1.Container{
		Name: "install-cni", Image: image,
		Command: []string{NodeImageBinDir + "/calico-cni-install"},
		Args:    []string{"--root=/host", "--source-dir=" + NodeImageCNIDir},
		EnvFrom: apiEndpoint,
		Env: []corev1.EnvVar{
			{Name: "CNI_CONF_NAME", Value: "10-calico.conflist"},
			fromConfig("CNI_NETWORK_CONFIG", "cni_network_config"),
			fromConfig("CNI_MTU", "veth_mtu"),
			fromField("KUBERNETES_NODE_NAME", "spec.nodeName"),
			{Name: "CALICO_CNI_SERVICE_ACCOUNT", Value: CNIPluginName},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "cni-bin-dir", MountPath: "/host/opt/cni/bin"}, {Name: "cni-net-dir", MountPath: "/host/etc/cni/net.d"}},
		// Writing the host's /opt/cni/bin and /etc/cni/net.d needs no
		// capability, but SELinux-enforcing hosts let only a privileged
		// container write host paths labelled for the host.
		SecurityContext: &corev1.SecurityContext{Privileged: &yes},
	}
	node := corev1.Container{
		Name: NodeName, Image: image,
		// -felix as upstream's image runs it: upstream's calicoctl node status
		// looks for that process.
		Command: []string{NodeImageBinDir + "/calico-node", "-felix"},
		EnvFrom: apiEndpoint,
		Env: []corev1.EnvVar{
			fromField("NODENAME", "spec.nodeName"),
			fromField("CALICO_NAMESPACE", "metadata.namespace"),
			fromConfig("CALICO_NETWORKING_BACKEND", "calico_backend"),
			fromConfig("FELIX_TYPHAK8SSERVICENAME", "typha_service_name"),
			{Name: "IP", Value: "autodetect"},
			{Name: "IP_AUTODETECTION_METHOD", Value: "first-found"},
			{Name: "CALICO_IPV4POOL_CIDR", Value: "192.168.0.0/16"},
			{Name: "CALICO_IPV4POOL_VXLAN", Value: "Never"},
			{Name: "CALICO_MANAGE_CNI", Value: "true"},
			{Name: "CALICO_CNI_KUBECONFIG", Value: "/host/etc/cni/net.d/" + cniinstall.KubeconfigName},
			{Name: "CALICO_CNI_SERVICE_ACCOUNT", Value: CNIPluginName},
			{Name: "FELIX_HEALTHENABLED", Value: "true"},
			{Name: "FELIX_DEFAULTENDPOINTTOHOSTACTION", Value: "ACCEPT"},
			{Name: "FELIX_LOGSEVERITYSCREEN", Value: "info"},
			// Prometheus metrics on :9091 of the host, for Prometheus
			// (calico-prometheus.yaml); keep the port off the internet.
			{Name: "FELIX_PROMETHEUSMETRICSENABLED", Value: "true"},
		},
		// Felix reaches its health endpoint on the node's loopback.
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "localhost", Path: "/liveness", Port: intstr.FromInt32(NodeHealth)}},
			PeriodSeconds: 10, TimeoutSeconds: 10, InitialDelaySeconds: 10, FailureThreshold: 6},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "localhost", Path: "/readiness", Port: intstr.FromInt32(NodeHealth)}},
			PeriodSeconds: 10, TimeoutSeconds: 10},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
		// nftables, routes, links and BGP need NET_ADMIN and port 179;
		// the per-interface sysctls need a writable /proc/sys, which only
		// a privileged container has.
		SecurityContext: &corev1.SecurityContext{Privileged: &yes},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "var-run-calico", MountPath: "/var/run/calico"},
			// Flow, DNS and BGP logs, on the host for calico-log-shipper.
			{Name: "var-log-calico", MountPath: "/var/log/calico"},
			{Name: "confd", MountPath: "/etc/calico/confd/config"},
			{Name: "cni-net-dir", MountPath: "/host/etc/cni/net.d"},
		},
	}
	capEnv, capVol, capMount := nodeCaptureFiles()
	node.Env = append(node.Env, capEnv...)
	node.VolumeMounts = append(node.VolumeMounts, capMount)
	grace := int64(10)
	return corev1.PodSpec{
		ServiceAccountName:            NodeName,
		HostNetwork:                   true,
		PriorityClassName:             "system-node-critical",
		TerminationGracePeriodSeconds: &grace,
		NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
		Tolerations: []corev1.Toleration{{Effect: corev1.TaintEffectNoSchedule, Operator: corev1.TolerationOpExists},
			{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists}, {Effect: corev1.TaintEffectNoExecute, Operator: corev1.TolerationOpExists}},
		InitContainers: []corev1.Container{install},
		Containers:     []corev1.Container{node},
		Volumes: []corev1.Volume{
			hostDir("var-run-calico", "/var/run/calico"), hostDir("var-log-calico", "/var/log/calico"),
			hostDir("cni-bin-dir", "/opt/cni/bin"), hostDir("cni-net-dir", "/etc/cni/net.d"),
			{Name: "confd", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			capVol,
		},
	}
}

// Node is calico-node: its RBAC and the CNI plugins', calico-config, and
// the DaemonSet. Its init container installs the plugins and their
// configuration on the host (calico-cni-install); the agent keeps the
// plugins' token fresh, programs policy and routes, and runs BIRD.
func Node(version string) []runtime.Object {
	labels := map[string]string{"k8s-app": NodeName}
	ds := &appsv1.DaemonSet{TypeMeta: tm("apps/v1", "DaemonSet"), ObjectMeta: meta(NodeName, Namespace),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			// One node at a time: policy and connections survive a
			// calico-node restart (docs/install.md, Upgrades).
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr(intstr.FromInt32(1))}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: NodePodSpec(version)},
		}}
	objs := append(CalicoNodeRBAC(), CNIPluginRBAC()...)
	return append(objs, NodeConfig(), ds, metricsService(NodeName))
}
