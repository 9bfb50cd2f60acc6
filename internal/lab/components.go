package lab

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"

	"github.com/calicong/calico/internal/chserver"
	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/manifests"
)

// component is one process the supervisor runs: a control-plane
// component of the kube-lab binary (its name is the subcommand), or,
// with binary set, another program (a node agent).
type component struct {
	name   string
	binary string
	args   []string
	// env is added to the supervisor's environment.
	env    []string
	health string // URL that answers 200 once the component is ready
}

// components lists the control plane in start order; they are stopped in
// reverse order.
func components(cfg Config) []component {
	hostPort := func(p int) string { return net.JoinHostPort(cfg.Host, fmt.Sprint(p)) }
	etcdURL := "http://" + hostPort(cfg.EtcdClientPort)
	pki := cfg.pkiPath
	apiserverArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + cfg.Host,
		"--advertise-address=" + cfg.Host,
		fmt.Sprintf("--secure-port=%d", cfg.APIServerPort),
		"--tls-cert-file=" + pki("apiserver.crt"),
		"--tls-private-key-file=" + pki("apiserver.key"),
		"--client-ca-file=" + pki("ca.crt"),
		"--kubelet-client-certificate=" + pki("apiserver-client.crt"),
		"--kubelet-client-key=" + pki("apiserver-client.key"),
		"--service-account-key-file=" + pki("sa.key"),
		"--service-account-signing-key-file=" + pki("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=" + cfg.ServiceCIDR,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--audit-policy-file=" + cfg.path("audit-policy.yaml"),
		"--audit-log-path=" + cfg.auditLogPath(),
		"--audit-log-maxsize=100",
		"--audit-log-maxbackup=3",
		"--audit-log-format=json",
		"--profiling=false",
		"--v=1",
	}
	comps := []component{
		{
			name: "etcd",
			args: []string{
				"--data-dir=" + cfg.path("etcd"),
				"--listen-client-url=" + etcdURL,
				"--listen-peer-url=http://" + hostPort(cfg.EtcdPeerPort),
			},
			health: etcdURL + "/health",
		},
		{
			name:   "kube-apiserver",
			args:   append(apiserverArgs, cfg.ExtraAPIServerArgs...),
			health: cfg.APIServerURL() + "/readyz",
		},
		{
			name: "kube-controller-manager",
			args: []string{
				"--kubeconfig=" + cfg.componentKubeconfig(controllerManagerIdentity.file),
				"--authentication-kubeconfig=" + cfg.componentKubeconfig(controllerManagerIdentity.file),
				"--authorization-kubeconfig=" + cfg.componentKubeconfig(controllerManagerIdentity.file),
				"--bind-address=" + cfg.Host,
				fmt.Sprintf("--secure-port=%d", cfg.ControllerManagerPort),
				"--tls-cert-file=" + pki("controller-manager-serving.crt"),
				"--tls-private-key-file=" + pki("controller-manager-serving.key"),
				"--client-ca-file=" + pki("ca.crt"),
				"--root-ca-file=" + pki("ca.crt"),
				"--service-account-private-key-file=" + pki("sa.key"),
				"--cluster-signing-cert-file=" + pki("ca.crt"),
				"--cluster-signing-key-file=" + pki("ca.key"),
				"--use-service-account-credentials=true",
				"--service-cluster-ip-range=" + cfg.ServiceCIDR,
				// One instance: skip the lease round trips that delay start.
				"--leader-elect=false",
				"--profiling=false",
				"--v=1",
			},
			health: "https://" + hostPort(cfg.ControllerManagerPort) + "/healthz",
		},
		{
			name: "kube-scheduler",
			args: []string{
				"--kubeconfig=" + cfg.componentKubeconfig(schedulerIdentity.file),
				"--authentication-kubeconfig=" + cfg.componentKubeconfig(schedulerIdentity.file),
				"--authorization-kubeconfig=" + cfg.componentKubeconfig(schedulerIdentity.file),
				"--bind-address=" + cfg.Host,
				fmt.Sprintf("--secure-port=%d", cfg.SchedulerPort),
				"--tls-cert-file=" + pki("scheduler-serving.crt"),
				"--tls-private-key-file=" + pki("scheduler-serving.key"),
				"--client-ca-file=" + pki("ca.crt"),
				"--leader-elect=false",
				"--profiling=false",
				"--v=1",
			},
			health: "https://" + hostPort(cfg.SchedulerPort) + "/healthz",
		},
		{
			// The admission webhooks (docs/apiserver.md); install
			// registers them once Calico's resources are in place.
			name:   "calico-apiserver",
			binary: filepath.Join(filepath.Dir(cfg.Executable), "calico-apiserver"),
			args: []string{
				"--kubeconfig=" + cfg.componentKubeconfig(apiServerIdentity.file),
				"--secure-port=" + hostPort(cfg.APIServerWebhookPort),
				"--health-addr=" + hostPort(cfg.APIServerHealthPort),
				"--tls-cert-file=" + pki("calico-apiserver.crt"),
				"--tls-private-key-file=" + pki("calico-apiserver.key"),
			},
			health: "http://" + hostPort(cfg.APIServerHealthPort) + "/readiness",
		},
	}
	linseedEnv := []string{
		"LINSEED_LISTEN=" + hostPort(cfg.LinseedPort),
		"LINSEED_HEALTH_LISTEN=" + hostPort(cfg.LinseedHealthPort),
		"LINSEED_METRICS_LISTEN=" + hostPort(cfg.LinseedMetricsPort),
		"LINSEED_TLS_CERT=" + pki("linseed.crt"), "LINSEED_TLS_KEY=" + pki("linseed.key"),
		"LINSEED_CLIENT_CA=" + pki("ca.crt"),
		"KUBECONFIG=" + cfg.componentKubeconfig(linseedIdentity.file),
	}
	if cfg.LinseedStore == "clickhouse" {
		// Its configuration is written by `up` (writeClickHouseConfig).
		bin, _ := exec.LookPath(chserver.Binary)
		comps = append(comps, component{
			name:   "clickhouse-server",
			binary: bin,
			args:   []string{"--config-file=" + cfg.clickHouseConfig()},
			health: fmt.Sprintf("http://127.0.0.1:%d/ping", cfg.ClickHouseHTTPPort),
		})
		linseedEnv = append(linseedEnv, "LINSEED_BACKEND=clickhouse", fmt.Sprintf("LINSEED_CLICKHOUSE_ADDR=127.0.0.1:%d", cfg.ClickHousePort))
	} else {
		linseedEnv = append(linseedEnv, "LINSEED_BACKEND=sqlite", "LINSEED_SQLITE_PATH="+cfg.path("linseed", "logs.db"))
	}
	// The log API (docs/linseed.md).
	return append(comps, component{
		name:   manifests.LinseedName,
		binary: filepath.Join(filepath.Dir(cfg.Executable), "calico-linseed"),
		env:    linseedEnv,
		health: "http://" + hostPort(cfg.LinseedHealthPort) + "/readiness",
	})
}

// logShipper is a node's calico-log-shipper: its flow and BGP logs, and
// on the first node the API server's audit log too (as the DaemonSet's
// pod on a control-plane node ships it).
func logShipper(cfg Config, h multihost.HostSpec, healthPort, metricsPort int, audit bool) component {
	env := []string{
		"LINSEED_URL=" + cfg.LinseedURL(), "LINSEED_CA=" + cfg.CAPath(),
		"LINSEED_CLIENT_CERT=" + cfg.pkiPath("log-shipper.crt"), "LINSEED_CLIENT_KEY=" + cfg.pkiPath("log-shipper.key"),
		"LINSEED_TOKEN=" + cfg.shipperTokenFile(),
		"FLOW_LOG_DIR=" + filepath.Join(h.Dir, "flowlogs"), "DNS_LOG_DIR=" + filepath.Join(h.Dir, "dnslogs"), "BGP_LOG_DIR=" + filepath.Join(h.Dir, "bird"),
		"SHIPPER_STATE_DIR=" + filepath.Join(h.Dir, "log-shipper"),
		fmt.Sprintf("SHIPPER_HEALTH_LISTEN=127.0.0.1:%d", healthPort), fmt.Sprintf("SHIPPER_METRICS_LISTEN=127.0.0.1:%d", metricsPort),
	}
	if audit {
		env = append(env, "AUDIT_LOG_FILE="+cfg.auditLogPath())
	}
	return component{
		name:   "log-shipper-" + h.Name,
		binary: filepath.Join(filepath.Dir(cfg.Executable), manifests.LogShipperName),
		env:    env,
		health: fmt.Sprintf("http://127.0.0.1:%d/liveness", healthPort),
	}
}
