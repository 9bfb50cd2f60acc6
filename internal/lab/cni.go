package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/calicong/calico/internal/cniinstall"
	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/manifests"
)

// A lab node is installed as the manifests install a real one: the
// agent runs calico-node's init container (calico-cni-install) and then
// calico-node with the environment manifests.NodePodSpec gives them,
// resolved from calico-config as a kubelet would. What differs is where
// things are: the node's directory stands for the host's /opt/cni/bin,
// /etc/cni/net.d and /var/run/calico, the API server is reached through
// the node's relay, and calico-node authenticates with a certificate for
// its ServiceAccount instead of a projected token.

// podContext is what a kubelet fills calico-node's pod environment from.
func (a *agent) podContext() manifests.PodContext {
	return manifests.PodContext{NodeName: a.host.Name, Namespace: manifests.Namespace,
		ConfigMaps: map[string]*corev1.ConfigMap{manifests.NodeConfigMap: manifests.NodeConfig()}}
}

// cniNetDir and cniBinDir stand for the node's /etc/cni/net.d and
// /opt/cni/bin.
func (a *agent) cniNetDir() string { return filepath.Join(a.host.Dir, "cni", "net.d") }
func (a *agent) cniBinDir() string { return filepath.Join(a.host.Dir, "cni", "bin") }

// installCNI runs calico-node's init container step on the node and
// returns how the node's runtime finds the result.
func (a *agent) installCNI(ctx context.Context, kube kubernetes.Interface) (multihost.CNIOptions, error) {
	install := manifests.NodePodSpec(manifests.Version).InitContainers[0]
	env, err := manifests.ContainerEnv(install, a.podContext())
	if err != nil {
		return multihost.CNIOptions{}, err
	}
	conf, err := a.labNetworkConfig(env)
	if err != nil {
		return multihost.CNIOptions{}, err
	}
	sa, err := a.serviceAccountDir(ctx, kube)
	if err != nil {
		return multihost.CNIOptions{}, err
	}
	env = append(env, "CNI_NETWORK_CONFIG="+conf, "CNI_NET_DIR="+a.cniNetDir(), "CNI_BIN_DIR="+a.cniBinDir(),
		"KUBERNETES_SERVICE_HOST="+a.cfg.Host, "KUBERNETES_SERVICE_PORT="+strconv.Itoa(a.cfg.APIServerPort))
	name := filepath.Base(install.Command[0])
	p, err := a.host.Start(name, env, filepath.Join(a.bin, name), "--root=/", "--source-dir="+a.bin, "--serviceaccount-dir="+sa)
	if err != nil {
		return multihost.CNIOptions{}, err
	}
	select {
	case <-ctx.Done():
		p.Kill()
		return multihost.CNIOptions{}, ctx.Err()
	case <-p.Done():
	}
	if _, err := p.Exited(); err != nil {
		out, _ := os.ReadFile(p.Log)
		return multihost.CNIOptions{}, fmt.Errorf("%s: %v\n%s", name, err, lastLines(string(out), 10))
	}
	confName := "10-calico.conflist"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "CNI_CONF_NAME="); ok {
			confName = v
		}
	}
	return multihost.CNIOptions{BinDir: a.cniBinDir(), ConfFile: filepath.Join(a.cniNetDir(), confName)}, nil
}

// labNetworkConfig is the manifest's CNI_NETWORK_CONFIG with the
// calico plugin's log file and IPAM lock in the node's directory: the
// lab's nodes share one filesystem.
func (a *agent) labNetworkConfig(env []string) (string, error) {
	var tmpl string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "CNI_NETWORK_CONFIG="); ok {
			tmpl = v
		}
	}
	// The placeholders are not JSON until filled; __CNI_MTU__ is a number.
	var list map[string]any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(tmpl, "__CNI_MTU__", "0")), &list); err != nil {
		return "", fmt.Errorf("calico-config's cni_network_config: %w", err)
	}
	plugins, _ := list["plugins"].([]any)
	for _, p := range plugins {
		if m, ok := p.(map[string]any); ok && m["type"] == "calico" {
			m["log_file_path"] = filepath.Join(a.host.Dir, "cni.log")
			m["ipam_lock_file"] = filepath.Join(a.host.Dir, "ipam.lock")
			m["mtu"] = "__CNI_MTU__"
		}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(string(b), `"__CNI_MTU__"`, "__CNI_MTU__"), nil
}

// serviceAccountDir plays the kubelet's projected service-account volume
// for calico-node's pod: a token of its ServiceAccount, the cluster's CA
// and the namespace.
func (a *agent) serviceAccountDir(ctx context.Context, kube kubernetes.Interface) (string, error) {
	secs := int64(time.Hour / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts(manifests.Namespace).CreateToken(ctx, manifests.NodeName,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("a token for calico-node's pod: %w", err)
	}
	ca, err := os.ReadFile(a.cfg.pkiPath("ca.crt"))
	if err != nil {
		return "", err
	}
	dir := filepath.Join(a.host.Dir, "serviceaccount")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for name, data := range map[string][]byte{"token": []byte(tr.Status.Token), "ca.crt": ca, "namespace": []byte(manifests.Namespace)} {
		if _, err := cniinstall.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// calicoNodeEnv is calico-node's environment on a lab node: the
// DaemonSet's, then what the lab's node differs in.
func (a *agent) calicoNodeEnv() ([]string, error) {
	env, err := manifests.ContainerEnv(manifests.NodePodSpec(manifests.Version).Containers[0], a.podContext())
	if err != nil {
		return nil, err
	}
	h := a.host
	env = append(env,
		"KUBECONFIG="+a.cfg.componentKubeconfig(calicoNodeIdentity.file), "IP="+h.IP.String(), "IP6=none",
		"CALICO_CONFD_CONFIG_DIR="+filepath.Join(h.Dir, "confd"), "CALICO_RUN_DIR="+filepath.Join(h.Dir, "run"),
		"CALICO_NODENAME_FILE="+filepath.Join(h.Dir, "nodename"), "CALICO_CNI_KUBECONFIG="+filepath.Join(a.cniNetDir(), cniinstall.KubeconfigName),
		// BIRD's log as BGP logs, for the node's log shipper.
		"CALICO_BGP_LOG_DIR="+filepath.Join(h.Dir, "bird"),
		// Flow logs on, in the node's own directory, flushed every 15 s (Config), with
		// labels, policies and Services (docs/lab.md).
		"FELIX_FLOWLOGSFILEENABLED=true", "FELIX_FLOWLOGSFLUSHINTERVAL="+a.flowLogsInterval().String(), "FELIX_FLOWLOGSFILEDIRECTORY="+filepath.Join(h.Dir, "flowlogs"),
		"FELIX_CAPTUREDIR="+filepath.Join(h.Dir, "pcap"),
		"FELIX_FLOWLOGSFILEINCLUDELABELS=true", "FELIX_FLOWLOGSFILEINCLUDEPOLICIES=true", "FELIX_FLOWLOGSFILEINCLUDESERVICE=true",
		// DNS logs likewise (docs/dns-policy.md).
		"FELIX_DNSLOGSFILEDIRECTORY="+filepath.Join(h.Dir, "dnslogs"), "FELIX_DNSLOGSFLUSHINTERVAL="+a.flowLogsInterval().String())
	env = append(env, a.cfg.captureFilesEnv()...)
	if a.cfg.TyphaReplicas == 0 {
		return append(env, "FELIX_TYPHAK8SSERVICENAME="), nil
	}
	return append(env, a.typhaClientEnv()...), nil
}

// lastLines is the end of a program's output, for an error message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// flowLogsInterval is the nodes' flow log flush interval.
func (a *agent) flowLogsInterval() time.Duration { return a.cfg.flowLogsFlushInterval() }
