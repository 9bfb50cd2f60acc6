package lab

import (
	"fmt"
	"path/filepath"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/calicong/calico/internal/manifests"
)

// The console in the lab: calico-manager runs on the lab host beside
// Linseed (docs/manager.md), reading Linseed with its own client
// certificate and ServiceAccount token, and routing /prometheus/ to the
// lab's Prometheus API service. `up` prints its URL and a token of the
// lab's administrator, calico-lab-admin (cluster-admin).

// adminUser is the ServiceAccount whose token logs in to the console.
const adminUser = "calico-lab-admin"

// managerComponent is calico-manager, in a lab with nodes (it needs the
// Prometheus API service, which needs the monitoring host).
func managerComponent(cfg Config, rec *nodesRecord) []component {
	if cfg.ManagerPort == 0 || rec.Monitoring.Proxy == 0 {
		return nil // a lab made before the console existed
	}
	return []component{{
		name:   manifests.ManagerName,
		binary: filepath.Join(filepath.Dir(cfg.Executable), manifests.ManagerName),
		env: []string{
			fmt.Sprintf("MANAGER_LISTEN=%s:%d", cfg.Host, cfg.ManagerPort),
			"TLS_CERT_FILE=" + cfg.pkiPath("manager.crt"), "TLS_KEY_FILE=" + cfg.pkiPath("manager.key"),
			"LINSEED_URL=" + cfg.LinseedURL(), "LINSEED_CA=" + cfg.CAPath(),
			"LINSEED_CLIENT_CERT=" + cfg.pkiPath("manager-client.crt"), "LINSEED_CLIENT_KEY=" + cfg.pkiPath("manager-client.key"),
			"LINSEED_TOKEN=" + cfg.managerTokenFile(),
			fmt.Sprintf("PROMETHEUS_URL=https://127.0.0.1:%d", rec.Monitoring.Proxy), "PROMETHEUS_CA=" + cfg.CAPath(),
			"KUBECONFIG=" + cfg.componentKubeconfig(managerIdentity.file),
			"PACKETCAPTURE_URL=" + cfg.PacketCaptureURL(), "PACKETCAPTURE_CA=" + cfg.CAPath(),
		},
		health: cfg.ManagerURL() + "/health",
	}}
}

// adminRBAC is the lab's administrator: cluster-admin, which includes
// every log type's access in lma.tigera.io.
func adminRBAC() []runtime.Object {
	const rbacAPI = "rbac.authorization.k8s.io"
	binding := &rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: rbacAPI + "/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: adminUser},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: adminUser, Namespace: manifests.Namespace}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacAPI, Kind: "ClusterRole", Name: "cluster-admin"}}
	return append(manifests.ServiceAccountRBAC(adminUser, nil, nil), binding)
}
