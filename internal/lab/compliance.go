package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/manifests"
)

// Compliance in the lab (docs/compliance.md): the snapshotter and the
// report controller run on the lab host as the other controllers do, a
// benchmarker per node as the DaemonSet's pods would, and the report
// jobs the controller creates run as pods on the nodes (the node runtime
// runs calicong/compliance images as the lab's calico-compliance).

var (
	complianceSnapshotterIdentity = serviceAccountIdentity(manifests.ComplianceSnapshotterName)
	complianceControllerIdentity  = serviceAccountIdentity(manifests.ComplianceControllerName)
	complianceBenchmarkerIdentity = serviceAccountIdentity(manifests.ComplianceBenchmarkerName)
)

// The lab's compliance timings: snapshots and benchmarks every few
// seconds (snapshots are written only when something changed), and a
// report's job a little after its interval ends, once the interval's
// audit events and flow logs have been shipped.
const (
	labSnapshotPeriod  = "10s"
	labBenchmarkPeriod = "15s"
	labReportDelay     = "20s"
)

func (c Config) complianceTokenFile(sa string) string { return c.pkiPath(sa + ".token") }

// kubeletConfigPath is the node's kubelet configuration file.
func kubeletConfigPath(h multihost.HostSpec) string {
	return filepath.Join(h.Dir, "kubelet", "config.yaml")
}

// labKubeletConfig is what a lab node's kubelet is: the node runtime
// (internal/lab/noderuntime) stands in for it and serves no kubelet API
// at all, neither authenticated nor read-only. This file says so in
// KubeletConfiguration's terms, for the CIS benchmark's kubelet checks.
func labKubeletConfig(cfg Config) string {
	return `# The lab's node runtime plays this node's kubelet; it serves no
# kubelet API. The CIS benchmark's kubelet checks read this file.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ` + cfg.CAPath() + `}
authorization: {mode: Webhook}
readOnlyPort: 0
streamingConnectionIdleTimeout: 4h0m0s
makeIPTablesUtilChains: true
rotateCertificates: true
featureGates: {RotateKubeletServerCertificate: true}
`
}

// writeKubeletConfigs writes each node's kubelet configuration, once.
func writeKubeletConfigs(cfg Config, rec *nodesRecord) error {
	for _, h := range rec.Cluster.Hosts {
		p := kubeletConfigPath(h)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := writeFile(p, []byte(labKubeletConfig(cfg)), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// complianceComponents are the snapshotter, the controller and a
// benchmarker per node. The first node is the control plane's for the
// benchmark (the lab's control plane runs on the lab host, whose
// processes every node sees); the others are checked as workers.
func complianceComponents(cfg Config, rec *nodesRecord) []component {
	if len(rec.CompliancePorts) < 2+len(rec.Cluster.Hosts) {
		return nil // a lab made before compliance ran in it
	}
	bin := filepath.Join(filepath.Dir(cfg.Executable), "calico-compliance")
	linseed := func(sa string) []string {
		return []string{"LINSEED_URL=" + cfg.LinseedURL(), "LINSEED_CA=" + cfg.CAPath(),
			"LINSEED_CLIENT_CERT=" + cfg.pkiPath("compliance-client.crt"), "LINSEED_CLIENT_KEY=" + cfg.pkiPath("compliance-client.key"),
			"LINSEED_TOKEN=" + cfg.complianceTokenFile(sa)}
	}
	health := func(p int) (string, string) {
		return fmt.Sprintf("HEALTH_LISTEN=127.0.0.1:%d", p), fmt.Sprintf("http://127.0.0.1:%d/readiness", p)
	}
	snapEnv, snapHealth := health(rec.CompliancePorts[0])
	ctlEnv, ctlHealth := health(rec.CompliancePorts[1])
	out := []component{{
		name: manifests.ComplianceSnapshotterName, binary: bin, args: []string{"snapshotter"}, health: snapHealth,
		env: append(linseed(manifests.ComplianceSnapshotterName), snapEnv,
			"KUBECONFIG="+cfg.componentKubeconfig(complianceSnapshotterIdentity.file), "SNAPSHOT_PERIOD="+labSnapshotPeriod),
	}, {
		name: manifests.ComplianceControllerName, binary: bin, args: []string{"controller"}, health: ctlHealth,
		env: []string{ctlEnv, "KUBECONFIG=" + cfg.componentKubeconfig(complianceControllerIdentity.file), "NAMESPACE=" + manifests.Namespace,
			"JOB_IMAGE=" + manifests.Image("compliance", manifests.Version), "LINSEED_URL=" + cfg.LinseedURL(), "REPORT_DELAY=" + labReportDelay},
	}}
	pki := cfg.pkiPath
	for i, h := range rec.Cluster.Hosts {
		env, hc := health(rec.CompliancePorts[2+i])
		paths := []string{"kubeletConfig=" + kubeletConfigPath(h), "kubeletKubeconfig=" + cfg.KubeconfigPath(), "kubeletCAFile=" + cfg.CAPath(),
			"cniConfDir=" + filepath.Join(h.Dir, "cni", "net.d")}
		targets := "kubelet,proxy"
		if i == 0 {
			targets = ""
			paths = append(paths, "pkiDir="+filepath.Dir(pki("ca.crt")), "adminConf="+cfg.KubeconfigPath(), "etcdDataDir="+cfg.path("etcd"),
				"schedulerConf="+cfg.componentKubeconfig(schedulerIdentity.file),
				"controllerManagerConf="+cfg.componentKubeconfig(controllerManagerIdentity.file))
		}
		out = append(out, component{
			name: "compliance-benchmarker-" + h.Name, binary: bin, args: []string{"benchmarker"}, health: hc,
			env: append(linseed(manifests.ComplianceBenchmarkerName), env, "NODE_NAME="+h.Name,
				"KUBECONFIG="+cfg.componentKubeconfig(complianceBenchmarkerIdentity.file), "BENCHMARK_PERIOD="+labBenchmarkPeriod,
				"TARGETS="+targets, "BENCHMARK_PATHS="+strings.Join(paths, ","),
				// Only this lab's control plane counts, not another's on
				// the same machine.
				"CMDLINE_FILTER="+cfg.StateDir),
		})
	}
	return out
}

// installCompliance gives the report jobs their Linseed client
// certificate (the Secret the controller mounts in them), and the
// components their tokens for Linseed.
func installCompliance(ctx context.Context, cfg Config, c *datastore.Client) error {
	data := map[string][]byte{}
	for key, file := range map[string]string{"ca.crt": cfg.CAPath(), "tls.crt": cfg.pkiPath("compliance-client.crt"), "tls.key": cfg.pkiPath("compliance-client.key")} {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		data[key] = b
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: manifests.ComplianceLinseedTLSSecret, Namespace: manifests.Namespace},
		Type: corev1.SecretTypeTLS, Data: data}
	secrets := c.Kube.CoreV1().Secrets(manifests.Namespace)
	if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		_, err = secrets.Update(ctx, sec, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	for _, sa := range []string{manifests.ComplianceSnapshotterName, manifests.ComplianceBenchmarkerName} {
		if err := writeToken(ctx, c, sa, cfg.complianceTokenFile(sa)); err != nil {
			return fmt.Errorf("a token for %s: %w", sa, err)
		}
	}
	return nil
}
