package datastore

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/ipam/kdd"
)

// IPAM is an allocator storing in this cluster, reading node labels (for
// pools' nodeSelector) from Kubernetes Nodes.
func (c *Client) IPAM() *ipam.IPAM {
	return kdd.NewIPAMWith(c.Client, func(ctx context.Context, node string) (map[string]string, error) {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return nil, kdd.Wrap(err)
		}
		return n.Labels, nil
	})
}
