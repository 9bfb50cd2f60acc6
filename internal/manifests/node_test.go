package manifests_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/calicong/calico/internal/cniinstall"
	"github.com/calicong/calico/internal/cnitoken"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/manifests"
)

// TestNodeManifestCNIIdentity runs calico-node's init container as the
// DaemonSet has it (its environment resolved from calico-config) with a
// token of calico-node's ServiceAccount, then calico-node's token refresh
// with exactly calico-node's RBAC, and checks what the CNI plugins get: a
// kubeconfig whose token is the calico-cni-plugin ServiceAccount's, with
// that role's rights and no more.
func TestNodeManifestCNIIdentity(t *testing.T) {
	bin := labtest.Bin(t)
	ctx := context.Background()
	applyRBAC(t, bin, append(manifests.CalicoNodeRBAC(), manifests.CNIPluginRBAC()...))

	// The kubelet's part: calico-node's projected token and CA.
	sa := t.TempDir()
	secs := int64(600)
	tr, err := testLab.Client.Kube.CoreV1().ServiceAccounts(manifests.Namespace).CreateToken(ctx, manifests.NodeName,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"token": []byte(tr.Status.Token), "ca.crt": testLab.REST.CAData, "namespace": []byte(manifests.Namespace)} {
		if err := os.WriteFile(filepath.Join(sa, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	server, err := url.Parse(testLab.REST.Host)
	if err != nil {
		t.Fatal(err)
	}
	spec := manifests.NodePodSpec(manifests.Version)
	pod := manifests.PodContext{NodeName: "node-a", Namespace: manifests.Namespace,
		ConfigMaps: map[string]*corev1.ConfigMap{manifests.NodeConfigMap: manifests.NodeConfig()}}
	env, err := manifests.ContainerEnv(spec.InitContainers[0], pod)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "calico-cni-install"), "--root", root, "--source-dir", bin, "--serviceaccount-dir", sa)
	cmd.Env = append(append(os.Environ(), env...), "KUBERNETES_SERVICE_HOST="+server.Hostname(), "KUBERNETES_SERVICE_PORT="+server.Port())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("calico-cni-install: %v\n%s", err, out)
	}
	kubeconfig := filepath.Join(root, "etc/cni/net.d", cniinstall.KubeconfigName)
	conf, err := os.ReadFile(filepath.Join(root, "etc/cni/net.d/10-calico.conflist"))
	if err != nil || !strings.Contains(string(conf), `"nodename": "node-a"`) || !strings.Contains(string(conf), `"mtu": 1450`) ||
		!strings.Contains(string(conf), `"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"`) {
		t.Fatalf("configuration list: %v\n%s", err, conf)
	}

	// Whose token the plugins hold, and what it may do.
	plugin := func() (kubernetes.Interface, string) {
		t.Helper()
		rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		kube := kubernetes.NewForConfigOrDie(rc)
		r, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("the plugins' kubeconfig does not authenticate: %v", err)
		}
		if want := "system:serviceaccount:" + manifests.Namespace + ":" + manifests.CNIPluginName; r.Status.UserInfo.Username != want {
			t.Fatalf("the plugins authenticate as %q, want %q", r.Status.UserInfo.Username, want)
		}
		return kube, rc.BearerToken
	}
	kube, first := plugin()
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("the plugins cannot read a namespace: %v", err)
	}
	if _, err := kube.CoreV1().Secrets(manifests.Namespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the plugins may list Secrets: %v", err)
	}

	// calico-node's refresh, as calico-node.
	nodeKube := kubernetes.NewForConfigOrDie(mustConfig(t, kubeconfigAs(t, manifests.NodeName)))
	c := cnitoken.Config{Kube: nodeKube, Namespace: manifests.Namespace, ServiceAccount: manifests.CNIPluginName, Kubeconfig: kubeconfig}
	expires, err := cnitoken.Refresh(ctx, c)
	if err != nil {
		t.Fatalf("calico-node cannot refresh the plugins' token: %v", err)
	}
	if d := time.Until(expires); d < 23*time.Hour {
		t.Errorf("the refreshed token lives %v, want a day", d)
	}
	if _, second := plugin(); second == first {
		t.Error("the refresh did not change the token")
	}
	// calico-node may mint tokens for the plugins only.
	c.ServiceAccount = manifests.KubeControllersName
	if _, _, err := cnitoken.Request(ctx, c); !apierrors.IsForbidden(err) {
		t.Errorf("calico-node could request another ServiceAccount's token: %v", err)
	}
}

func mustConfig(t *testing.T, path string) *rest.Config {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}
