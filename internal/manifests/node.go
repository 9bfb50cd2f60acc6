package manifests

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/calicong/calico/internal/datastore"
)

// NodeName is calico-node's ServiceAccount and roles.
const NodeName = "calico-node"

// CalicoNodeRBAC is what calico-node does: read what Felix's and confd's
// syncers read (directly, when there is no Typha); start-up (its Node's
// addresses and annotations, the default pool, the cluster's initial
// objects); the VXLAN tunnel address through IPAM; CalicoNodeStatus
// reports; BGP passwords from Secrets in its namespace; and finding
// Typha's endpoints.
func CalicoNodeRBAC() []runtime.Object {
	sa := &corev1.ServiceAccount{TypeMeta: tm("v1", "ServiceAccount"), ObjectMeta: meta(NodeName, Namespace)}
	cr := &rbacv1.ClusterRole{TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: meta(NodeName, "")}
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
				cr.Rules = append(cr.Rules, rbacv1.PolicyRule{APIGroups: []string{r.Group}, Resources: res, Verbs: []string{"get", "list", "watch"}})
			}
		}
	}
	rw := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	cr.Rules = append(cr.Rules,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"patch", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes/status"}, Verbs: []string{"patch", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamhandles", "blockaffinities"}, Verbs: rw},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamblocks"}, Verbs: []string{"create", "update", "patch", "delete"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamconfigurations", "ipreservations"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ippools", "felixconfigurations", "clusterinformations", "tiers"}, Verbs: []string{"create", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"caliconodestatuses"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"caliconodestatuses/status"}, Verbs: []string{"update", "patch"}},
	)
	crb := &rbacv1.ClusterRoleBinding{TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), ObjectMeta: meta(NodeName, ""),
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: NodeName, Namespace: Namespace}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: NodeName}}
	role := &rbacv1.Role{TypeMeta: tm("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: meta(NodeName, Namespace),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		}}
	rb := &rbacv1.RoleBinding{TypeMeta: tm("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: meta(NodeName, Namespace),
		Subjects: crb.Subjects, RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: NodeName}}
	return []runtime.Object{sa, cr, crb, role, rb}
}
