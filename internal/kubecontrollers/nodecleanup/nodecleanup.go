// Package nodecleanup is the node controller's clean-up of what Calico
// keeps per node once the Kubernetes Node is gone: the CalicoNodeStatus
// objects that ask it for reports. (Its addresses and blocks are released
// by the IPAM garbage collector, internal/ipamgc.)
package nodecleanup

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
)

// Clean deletes the CalicoNodeStatus objects of nodes that do not exist,
// and returns their names.
func Clean(ctx context.Context, c *datastore.Client, nodes map[string]bool) ([]string, error) {
	kind, _ := v3.KindFor("CalicoNodeStatus")
	objs, err := c.List(ctx, kind, "")
	if err != nil {
		return nil, fmt.Errorf("listing CalicoNodeStatus: %w", err)
	}
	var deleted []string
	for _, o := range objs {
		st := o.(*v3.CalicoNodeStatus)
		if st.Spec.Node == "" || nodes[st.Spec.Node] {
			continue
		}
		rv := st.ResourceVersion
		if err := c.Delete(ctx, kind, "", st.Name, &metav1.Preconditions{ResourceVersion: &rv}); err != nil && !datastore.IsNotFound(err) {
			return deleted, fmt.Errorf("deleting CalicoNodeStatus %s of deleted node %s: %w", st.Name, st.Spec.Node, err)
		}
		deleted = append(deleted, st.Name)
	}
	slices.Sort(deleted)
	return deleted, nil
}
