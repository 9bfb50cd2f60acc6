package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	promrules "github.com/calicong/calico/config/prometheus"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/manifests"
)

// Monitoring in the lab: Prometheus runs on the monitoring host, the
// underlay namespace at the bridge's address (multihost.BridgeHost), as
// a Prometheus pod would on the cluster network: it reaches every node
// directly. It discovers its targets through the API server (relayed in
// at the same address) from the components' metrics Services and their
// EndpointSlices (endpoints.go). The components the lab runs on the lab
// host (kube-controllers, Linseed, the log shippers, the Prometheus API
// service) are relayed onto the monitoring host's address, and published
// there. Prometheus's own API is relayed out to the lab host, where
// calico-prometheus-service, the only way users reach it, proxies it.
const (
	monitoringName     = "monitoring"
	prometheusName     = "prometheus"
	prometheusInterval = "5s"
)

// monitoringPorts are the monitoring's ports on the lab host.
type monitoringPorts struct {
	// Agent is the monitoring host's agent (health, components).
	Agent int `json:"agent"`
	// Prometheus is Prometheus's API, relayed from the monitoring host;
	// only calico-prometheus-service uses it.
	Prometheus int `json:"prometheus"`
	// Proxy is calico-prometheus-service's HTTPS port, ProxyMetrics its
	// metrics.
	Proxy        int `json:"proxy"`
	ProxyMetrics int `json:"proxyMetrics"`
	// PacketCapture is the packet capture API's HTTPS port, relayed from
	// the monitoring host, where it runs (packetcapture.go).
	PacketCapture int `json:"packetCapture,omitempty"`
}

// monitoringComponents are the monitoring host's agent and the
// Prometheus API service, which the supervisor runs on the lab host.
func monitoringComponents(cfg Config, rec *nodesRecord) []component {
	m := rec.Monitoring
	if m.Agent == 0 {
		return nil // a lab made before monitoring existed
	}
	return []component{{
		name:   monitoringName,
		binary: cfg.Executable,
		args:   []string{"monitoring-host", "--state-dir=" + cfg.StateDir},
		health: fmt.Sprintf("http://127.0.0.1:%d/readyz", m.Agent),
	}, {
		name:   manifests.PrometheusServiceName,
		binary: filepath.Join(filepath.Dir(cfg.Executable), manifests.PrometheusServiceName),
		env: []string{
			fmt.Sprintf("LISTEN_ADDR=127.0.0.1:%d", m.Proxy), fmt.Sprintf("METRICS_LISTEN=127.0.0.1:%d", m.ProxyMetrics),
			fmt.Sprintf("PROMETHEUS_URL=http://127.0.0.1:%d", m.Prometheus), "PROMETHEUS_NAMESPACE=" + manifests.Namespace,
			"TLS_CERT_FILE=" + cfg.pkiPath("prometheus-service.crt"), "TLS_KEY_FILE=" + cfg.pkiPath("prometheus-service.key"),
			"KUBECONFIG=" + cfg.componentKubeconfig(prometheusServiceIdentity.file),
		},
		health: fmt.Sprintf("https://127.0.0.1:%d/health", m.Proxy),
	}}
}

// PrometheusURL is where users query Prometheus: the Prometheus API
// service, with a Bearer token (PrometheusTokenFile's, or any with
// calico-metrics-viewer). "" if the lab has no nodes.
func (c Config) PrometheusURL() string {
	rec, err := readNodes(c)
	if err != nil || rec == nil || rec.Monitoring.Proxy == 0 {
		return ""
	}
	return fmt.Sprintf("https://127.0.0.1:%d", rec.Monitoring.Proxy)
}

// PrometheusTokenFile holds a token allowed to query Prometheus.
func (c Config) PrometheusTokenFile() string { return c.pkiPath("metrics-user.token") }

// metricsUser is the ServiceAccount whose token `calico-lab env` gives
// users of Prometheus: bound to calico-metrics-viewer in kube-system.
const metricsUser = "calico-lab-metrics-user"

// hostTargets are the metrics endpoints of what the lab runs on the lab
// host, by their port there, as published on the monitoring host.
func hostTargets(cfg Config, rec *nodesRecord, addr netip.Addr) []svcEndpoint {
	out := []svcEndpoint{
		metricsEndpoint(manifests.KubeControllersName, "", addr, int32(rec.ControllersPort), nil),
		metricsEndpoint(manifests.LinseedName, "", addr, int32(cfg.LinseedMetricsPort), nil),
		metricsEndpoint(manifests.PrometheusServiceName, "", addr, int32(rec.Monitoring.ProxyMetrics), nil),
	}
	for _, h := range rec.Cluster.Hosts {
		if p, ok := rec.ShipperPorts[h.Name]; ok {
			out = append(out, metricsEndpoint(manifests.LogShipperName, h.Name, addr, int32(p[1]), nil))
		}
	}
	return out
}

// RunMonitoring is the monitoring host: it relays the API server in and
// the lab host's components' metrics onto its address, publishes those,
// runs Prometheus (restarting it when it exits) and relays its API out.
// It serves /readyz (Prometheus ready), /components and
// POST /restart?component=prometheus on its agent port. It is the body
// of the hidden `calico-lab monitoring-host` command.
func RunMonitoring(ctx context.Context, cfg Config, log *slog.Logger) error {
	rec, err := readNodes(cfg)
	if err != nil {
		return err
	}
	if rec == nil || rec.Monitoring.Agent == 0 {
		return errors.New("the lab has no nodes, so no monitoring host")
	}
	mh := multihost.Attach(rec.Cluster)
	defer mh.Close() // only its relays: an attached cluster removes nothing else
	h, err := mh.BridgeHost(monitoringName)
	if err != nil {
		return err
	}
	apiserver := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.APIServerPort))
	if err := h.Relay(apiserver); err != nil {
		return err
	}
	targets := hostTargets(cfg, rec, h.IP.Addr())
	for _, t := range targets {
		if err := h.RelayAt(net.JoinHostPort(t.addr.String(), strconv.Itoa(int(t.port))), net.JoinHostPort("127.0.0.1", strconv.Itoa(int(t.port)))); err != nil {
			return err
		}
	}
	listen := net.JoinHostPort(h.IP.Addr().String(), strconv.Itoa(manifests.PrometheusPort))
	if err := h.Expose(fmt.Sprintf("127.0.0.1:%d", rec.Monitoring.Prometheus), listen); err != nil {
		return err
	}
	dir := cfg.path(prometheusName)
	if err := writePrometheusConfig(cfg, dir, apiserver); err != nil {
		return err
	}
	client, err := datastore.Connect(cfg.KubeconfigPath())
	if err != nil {
		return err
	}
	a := &agent{cfg: cfg, host: h, log: log, procs: map[string]*procState{},
		restart: map[string]chan struct{}{prometheusName: make(chan struct{}, 1)},
		checks:  map[string]string{prometheusName: "http://" + listen + "/-/ready"}}
	pc, err := packetCaptureOnMonitoring(cfg, rec, h, a)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		a.supervise(ctx, prometheusName, nil, filepath.Join(filepath.Dir(cfg.Executable), prometheusName), "--config.file="+filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+listen, "--log.level=warn")
	})
	if pc != nil {
		wg.Go(func() { a.supervise(ctx, manifests.PacketCaptureName, pc.env, pc.binary) })
		// It runs here, on the monitoring host's address: published as
		// it is, no relay.
		targets = append(targets, metricsEndpoint(manifests.PacketCaptureName, "", h.IP.Addr(), manifests.PacketCaptureMetrics, nil))
	}
	wg.Go(func() { publishEndpoints(ctx, client.Kube, log, nil, targets) })
	if _, err := runOutside(ctx, cfg, mh, &wg, log); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	a.serve(ctx, cancel, &wg, rec.Monitoring.Agent)
	return nil
}

// writePrometheusConfig writes the manifests' configuration, pointed at
// the lab's API server with Prometheus's own identity, and Calico's rules.
func writePrometheusConfig(cfg Config, dir, apiserver string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	conf := manifests.PrometheusConfig(manifests.PrometheusDiscovery{APIServer: "https://" + apiserver, CAFile: cfg.CAPath(),
		CertFile: cfg.pkiPath("prometheus.crt"), KeyFile: cfg.pkiPath("prometheus.key")}, prometheusInterval)
	if err := writeFile(filepath.Join(dir, "prometheus.yml"), conf, 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "calico-rules.yml"), promrules.Rules, 0o600)
}
