package manifests

import (
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
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"patch", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes/status"}, Verbs: []string{"patch", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamhandles", "blockaffinities"}, Verbs: rw},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamblocks"}, Verbs: []string{"create", "update", "patch", "delete"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ipamconfigurations", "ipreservations"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"ippools", "felixconfigurations", "clusterinformations", "tiers"}, Verbs: []string{"create", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"caliconodestatuses"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"projectcalico.org"}, Resources: []string{"caliconodestatuses/status"}, Verbs: []string{"update", "patch"}},
	)
	return serviceAccountRBAC(NodeName, rules, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
	})
}
