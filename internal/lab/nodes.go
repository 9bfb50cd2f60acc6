package lab

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/manifests"
)

// NamespacePrefix starts the name of every network namespace a lab makes
// (its underlay, nodes and pods), followed by the lab's own id.
const NamespacePrefix = "calab-"

// The sandbox nodes' underlay network: node-1 is .10, node-2 .11, ...
var nodeSubnet = netip.MustParsePrefix("172.31.0.0/24")

// nodesRecord is nodes.json: the sandbox nodes, for the node agents, for
// commands that reach into nodes and pods, and for Down.
type nodesRecord struct {
	Cluster multihost.Spec `json:"cluster"`
	// AgentPorts are the node agents' health ports on the lab host.
	AgentPorts map[string]int `json:"agentPorts"`
	// ControllersPort is calico-kube-controllers' metrics and health port.
	ControllersPort int `json:"controllersPort"`
	// ShipperPorts are the nodes' log shippers' health and metrics ports.
	ShipperPorts map[string][2]int `json:"shipperPorts,omitempty"`
	// Monitoring is the monitoring host's ports on the lab host.
	Monitoring monitoringPorts `json:"monitoring"`
	// IntrusionPort is calico-intrusion-detection's health and metrics
	// port (0 in a lab made before it ran).
	IntrusionPort int `json:"intrusionPort,omitempty"`
	// CompliancePorts are compliance's health and metrics ports: the
	// snapshotter's, the controller's, then each node's benchmarker's.
	CompliancePorts []int `json:"compliancePorts,omitempty"`
}

func (c Config) nodesFile() string { return c.path("nodes.json") }

// NamespacesOf is the prefix of the network namespaces of this lab's
// nodes and pods (NamespacePrefix and a random part, so that labs side
// by side never share one); "" if the lab has no nodes.
func NamespacesOf(cfg Config) string {
	rec, err := readNodes(cfg)
	if err != nil || rec == nil {
		return ""
	}
	return rec.Cluster.Prefix
}

// NodeName is the name of the i-th sandbox node (from 0).
func NodeName(i int) string { return fmt.Sprintf("node-%d", i+1) }

// createNodes makes the underlay and the nodes' namespaces and records
// them; the supervisor starts a node agent for each once the record is
// there.
func createNodes(cfg Config) (*nodesRecord, error) {
	mh, err := multihost.NewIn(NamespacePrefix, nodeSubnet, cfg.path("nodes"))
	if err != nil {
		return nil, err
	}
	rec := &nodesRecord{AgentPorts: map[string]int{}, ShipperPorts: map[string][2]int{}}
	fail := func(err error) (*nodesRecord, error) {
		_ = multihost.Remove(mh.Spec())
		return nil, err
	}
	ports, err := FreePorts(3*cfg.Nodes + 1 + 4 + 1 + 2 + cfg.Nodes + 1)
	if err != nil {
		return fail(err)
	}
	rec.ControllersPort = ports[cfg.Nodes]
	m := ports[3*cfg.Nodes+1:]
	rec.IntrusionPort = m[4]
	rec.CompliancePorts = m[5 : len(m)-1]
	rec.Monitoring = monitoringPorts{Agent: m[0], Prometheus: m[1], Proxy: m[2], ProxyMetrics: m[3], PacketCapture: m[len(m)-1]}
	for i := range cfg.Nodes {
		name := NodeName(i)
		if _, err := mh.AddHost(name); err != nil {
			return fail(fmt.Errorf("node %s: %w", name, err))
		}
		rec.AgentPorts[name] = ports[i]
		rec.ShipperPorts[name] = [2]int{ports[cfg.Nodes+1+2*i], ports[cfg.Nodes+2+2*i]}
	}
	rec.Cluster = mh.Spec()
	if err := writeKubeletConfigs(cfg, rec); err != nil {
		return fail(err)
	}
	data, _ := json.MarshalIndent(rec, "", "  ")
	if err := writeFile(cfg.nodesFile(), data, 0o600); err != nil {
		return fail(err)
	}
	return rec, nil
}

// readNodes reads nodes.json (nil if the lab has no nodes).
func readNodes(cfg Config) (*nodesRecord, error) {
	data, err := os.ReadFile(cfg.nodesFile())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec nodesRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("read %s: %w", cfg.nodesFile(), err)
	}
	return &rec, nil
}

// removeNodes deletes every namespace of the lab's nodes and pods.
func removeNodes(cfg Config) error {
	rec, err := readNodes(cfg)
	if err != nil || rec == nil {
		return err
	}
	return multihost.Remove(rec.Cluster)
}

// nodeComponents are what the supervisor runs once the nodes exist:
// calico-kube-controllers (only then: with nodes, the cluster's Nodes are
// real) and a node agent per node.
func nodeComponents(cfg Config, rec *nodesRecord) []component {
	out := []component{{
		name:   "calico-kube-controllers",
		binary: filepath.Join(filepath.Dir(cfg.Executable), "calico-kube-controllers"),
		args: []string{"--kubeconfig=" + cfg.componentKubeconfig(kubeControllersIdentity.file), fmt.Sprintf("--metrics-addr=127.0.0.1:%d", rec.ControllersPort),
			"--lease-namespace=kube-system"},
		health: fmt.Sprintf("http://127.0.0.1:%d/readiness", rec.ControllersPort),
	}}
	if rec.IntrusionPort != 0 {
		// Threat feeds are kept in the lab's own namespace for Calico's
		// components (its Secrets hold feed headers' values); events go
		// to the lab's Linseed.
		out = append(out, component{
			name:   manifests.IntrusionDetectionName,
			binary: filepath.Join(filepath.Dir(cfg.Executable), manifests.IntrusionDetectionName),
			env: []string{"KUBECONFIG=" + cfg.componentKubeconfig(intrusionIdentity.file), "NAMESPACE=" + manifests.Namespace,
				fmt.Sprintf("HEALTH_LISTEN=127.0.0.1:%d", rec.IntrusionPort),
				"LINSEED_URL=" + cfg.LinseedURL(), "LINSEED_CA=" + cfg.CAPath(),
				"LINSEED_CLIENT_CERT=" + cfg.pkiPath("intrusion-detection-client.crt"), "LINSEED_CLIENT_KEY=" + cfg.pkiPath("intrusion-detection-client.key"),
				"LINSEED_TOKEN=" + cfg.intrusionTokenFile(),
				// The lab is small and tests are short: search and
				// deliver sooner than a cluster's defaults.
				"SEARCH_PERIOD=5s", "WEBHOOK_POLL=1s"},
			health: fmt.Sprintf("http://127.0.0.1:%d/readiness", rec.IntrusionPort),
		})
	}
	for i, h := range rec.Cluster.Hosts {
		out = append(out, component{
			name:   h.Name,
			binary: cfg.Executable,
			args:   []string{"node-agent", "--state-dir=" + cfg.StateDir, "--node=" + h.Name},
			health: fmt.Sprintf("http://127.0.0.1:%d/readyz", rec.AgentPorts[h.Name]),
		})
		if p, ok := rec.ShipperPorts[h.Name]; ok {
			out = append(out, logShipper(cfg, h, p[0], p[1], i == 0))
		}
	}
	out = append(out, complianceComponents(cfg, rec)...)
	out = append(out, monitoringComponents(cfg, rec)...)
	return append(out, managerComponent(cfg, rec)...)
}
