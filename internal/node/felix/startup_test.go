package felix_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/node/startup"
)

// TestStartupKubernetesInternalIP: calico-node's start-up with
// IP_AUTODETECTION_METHOD=kubernetes-internal-ip takes the Node's
// InternalIP from the API server (with the prefix length of the local
// interface holding it) and records it on the Node.
func TestStartupKubernetesInternalIP(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx := context.Background()
	c := testLab.Client
	const name = "kip-node"
	n, err := c.Kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The controller manager may write the new Node first: retry on a
	// conflict with its latest version.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
		_, err := c.Kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if err != nil {
			if latest, gerr := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); gerr == nil {
				n = latest
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := startup.ConfigFromEnv(func(k string) string {
		return map[string]string{"NODENAME": name, "IP_AUTODETECTION_METHOD": "kubernetes-internal-ip", "NO_DEFAULT_POOLS": "true", "IP6": "none"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := startup.Run(ctx, cfg, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if res.IPv4.String() != "127.0.0.1/8" {
		t.Errorf("IPv4 = %s, want the Node's InternalIP 127.0.0.1 with lo's /8", res.IPv4)
	}
	got, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil || got.Annotations[v3.AnnotationNodeIPv4Address] != "127.0.0.1/8" {
		t.Errorf("node annotations %v (%v)", got.Annotations, err)
	}
}
