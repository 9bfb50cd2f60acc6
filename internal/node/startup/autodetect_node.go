package startup

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// KubernetesNode is the Node source of kubernetes-internal-ip: this
// node's Kubernetes Node, read when the method needs it.
func KubernetesNode(kube kubernetes.Interface, name string) func(context.Context) (*corev1.Node, error) {
	return func(ctx context.Context) (*corev1.Node, error) {
		return kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	}
}
