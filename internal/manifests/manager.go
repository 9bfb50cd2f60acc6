package manifests

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
	}, nil)
}
