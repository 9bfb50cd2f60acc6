package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/calicong/calico/internal/chserver"
)

// Config says where a lab keeps its state, which binaries it runs and which
// loopback ports its control plane listens on.
type Config struct {
	// StateDir holds everything the lab creates: certificates, kubeconfigs,
	// etcd data, logs, the audit log and the supervisor's status.
	StateDir string `json:"stateDir"`
	// Executable is the calico-lab binary that is started in the background
	// as the supervisor (`calico-lab supervise`).
	Executable string `json:"executable"`
	// KubeBinary is the multi-call control-plane binary (kube-lab).
	KubeBinary string `json:"kubeBinary"`

	Host                  string `json:"host"`
	APIServerPort         int    `json:"apiserverPort"`
	EtcdClientPort        int    `json:"etcdClientPort"`
	EtcdPeerPort          int    `json:"etcdPeerPort"`
	ControllerManagerPort int    `json:"controllerManagerPort"`
	SchedulerPort         int    `json:"schedulerPort"`
	// APIServerWebhookPort is calico-apiserver's HTTPS port (the admission
	// webhooks), APIServerHealthPort its /readiness.
	APIServerWebhookPort int `json:"calicoAPIServerPort"`
	APIServerHealthPort  int `json:"calicoAPIServerHealthPort"`
	// LinseedPort is calico-linseed's HTTPS port (the log API),
	// LinseedHealthPort its /readiness, LinseedMetricsPort its metrics.
	LinseedPort        int `json:"linseedPort"`
	LinseedHealthPort  int `json:"linseedHealthPort"`
	LinseedMetricsPort int `json:"linseedMetricsPort"`
	// ManagerPort is calico-manager's HTTPS port (the console), in a lab
	// with nodes.
	ManagerPort int `json:"managerPort,omitempty"`
	// LinseedStore is Linseed's store: "sqlite" (default, a file in the
	// state directory) or "clickhouse" (a clickhouse-server the lab runs,
	// listening on ClickHousePort, HTTP on ClickHouseHTTPPort).
	LinseedStore       string `json:"linseedStore,omitempty"`
	ClickHousePort     int    `json:"clickHousePort,omitempty"`
	ClickHouseHTTPPort int    `json:"clickHouseHTTPPort,omitempty"`
	// ServiceCIDR is the Service cluster IP range.
	ServiceCIDR string `json:"serviceCIDR"`
	// Nodes is the number of sandbox nodes (network namespaces running
	// calico-node and a node runtime); 0 runs the control plane only.
	Nodes int `json:"nodes"`
	// TyphaReplicas is how many nodes (the first ones) run calico-typha;
	// every calico-node then reaches the datastore through them. 0 runs
	// none: calico-node watches the API server itself.
	TyphaReplicas int `json:"typhaReplicas"`
	// FlowLogsFlushInterval is how often the nodes write their flow logs
	// (default 15s; tests shorten it).
	FlowLogsFlushInterval time.Duration `json:"flowLogsFlushInterval,omitempty"`
	// ExtraAPIServerArgs are appended to kube-apiserver's flags (tests use
	// this, e.g. to serve watches from etcd rather than the watch cache).
	ExtraAPIServerArgs []string `json:"extraAPIServerArgs,omitempty"`
}

// MaxNodes bounds --nodes (the underlay is a /24, and this is one machine).
const MaxNodes = 50

// DefaultStateDir is where `calico-lab` keeps a lab unless told otherwise.
const DefaultStateDir = "/var/lib/calico-lab"

// Defaults returns the configuration of the standard lab. The binaries are
// looked up next to the running executable.
func Defaults() Config {
	cfg := Config{
		StateDir:              DefaultStateDir,
		Host:                  "127.0.0.1",
		APIServerPort:         6443,
		EtcdClientPort:        2379,
		EtcdPeerPort:          2380,
		ControllerManagerPort: 10257,
		SchedulerPort:         10259,
		APIServerWebhookPort:  5443,
		APIServerHealthPort:   9095,
		LinseedPort:           8444,
		LinseedHealthPort:     9088,
		LinseedMetricsPort:    9089,
		LinseedStore:          "sqlite",
		ManagerPort:           9443,
		ClickHousePort:        9181,
		ClickHouseHTTPPort:    8181,
		ServiceCIDR:           "10.96.0.0/16",
		TyphaReplicas:         2,
		FlowLogsFlushInterval: 15 * time.Second,
	}
	if self, err := os.Executable(); err == nil {
		cfg.Executable = self
		cfg.KubeBinary = filepath.Join(filepath.Dir(self), "kube-lab")
	}
	return cfg
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("state directory is empty"))
	} else if !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("state directory %q is not an absolute path", c.StateDir))
	}
	if c.Executable == "" {
		errs = append(errs, errors.New("calico-lab executable is not set"))
	}
	if c.KubeBinary == "" {
		errs = append(errs, errors.New("kube-lab binary is not set"))
	} else if _, err := os.Stat(c.KubeBinary); err != nil {
		errs = append(errs, fmt.Errorf("kube-lab binary: %w (build it with `make build`)", err))
	}
	if net.ParseIP(c.Host) == nil {
		errs = append(errs, fmt.Errorf("host %q is not an IP address", c.Host))
	}
	seen := map[int]string{}
	for _, p := range c.ports() {
		if p.port <= 0 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("%s port %d is out of range 1-65535", p.owner, p.port))
			continue
		}
		if other, dup := seen[p.port]; dup {
			errs = append(errs, fmt.Errorf("%s and %s both want port %d", other, p.owner, p.port))
		}
		seen[p.port] = p.owner
	}
	if _, _, err := net.ParseCIDR(c.ServiceCIDR); err != nil {
		errs = append(errs, fmt.Errorf("service CIDR: %w", err))
	}
	if c.Nodes < 0 || c.Nodes > MaxNodes {
		errs = append(errs, fmt.Errorf("--nodes %d: use 0 (the control plane only) to %d", c.Nodes, MaxNodes))
	}
	switch c.LinseedStore {
	case "", "sqlite":
	case "clickhouse":
		if _, err := exec.LookPath(chserver.Binary); err != nil {
			errs = append(errs, fmt.Errorf("--linseed-store clickhouse needs %s (apt-get install clickhouse-server)", chserver.Binary))
		}
	default:
		errs = append(errs, fmt.Errorf("--linseed-store %q: sqlite or clickhouse", c.LinseedStore))
	}
	if c.TyphaReplicas < 0 {
		errs = append(errs, fmt.Errorf("--typha-replicas %d: use 0 (no Typha) or more", c.TyphaReplicas))
	}
	return errors.Join(errs...)
}

type portUse struct {
	owner string
	flag  string
	port  int
}

func (c Config) ports() []portUse {
	ps := []portUse{
		{"etcd (clients)", "--etcd-port", c.EtcdClientPort},
		{"etcd (peers)", "--etcd-peer-port", c.EtcdPeerPort},
		{"kube-apiserver", "--apiserver-port", c.APIServerPort},
		{"kube-controller-manager", "--controller-manager-port", c.ControllerManagerPort},
		{"kube-scheduler", "--scheduler-port", c.SchedulerPort},
		{"calico-apiserver", "--calico-apiserver-port", c.APIServerWebhookPort},
		{"calico-apiserver (health)", "--calico-apiserver-health-port", c.APIServerHealthPort},
		{"calico-linseed", "--linseed-port", c.LinseedPort},
		{"calico-linseed (health)", "--linseed-health-port", c.LinseedHealthPort},
		{"calico-linseed (metrics)", "--linseed-metrics-port", c.LinseedMetricsPort},
	}
	if c.Nodes > 0 {
		ps = append(ps, portUse{"calico-manager", "--manager-port", c.ManagerPort})
	}
	if c.LinseedStore == "clickhouse" {
		ps = append(ps, portUse{"clickhouse-server", "--clickhouse-port", c.ClickHousePort},
			portUse{"clickhouse-server (HTTP)", "--clickhouse-http-port", c.ClickHouseHTTPPort})
	}
	return ps
}

// checkPorts fails, naming the port and its user, if any port the lab
// needs is already taken.
func (c Config) checkPorts() error {
	var errs []error
	for _, p := range c.ports() {
		addr := net.JoinHostPort(c.Host, fmt.Sprint(p.port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("port %d on %s, needed by %s, is already in use (stop whatever holds it, or choose another with %s)", p.port, c.Host, p.owner, p.flag))
			continue
		}
		l.Close()
	}
	return errors.Join(errs...)
}

// Paths inside the state directory.
func (c Config) path(elem ...string) string {
	return filepath.Join(append([]string{c.StateDir}, elem...)...)
}

// KubeconfigPath is the administrator's kubeconfig.
func (c Config) KubeconfigPath() string { return c.path("kubeconfig") }

// APIServerURL is where clients reach the API server.
func (c Config) APIServerURL() string {
	return "https://" + net.JoinHostPort(c.Host, fmt.Sprint(c.APIServerPort))
}

func (c Config) pkiPath(name string) string { return c.path("pki", name) }

// typhaNode reports whether the i-th node (from 0) runs calico-typha.
func (c Config) typhaNode(i int) bool       { return i < c.TyphaReplicas }
func (c Config) logPath(name string) string { return c.path("logs", name+".log") }
func (c Config) configFile() string         { return c.path("lab.json") }
func (c Config) supervisorPIDFile() string  { return c.path("supervisor.pid") }

// flowLogsFlushInterval is the nodes' flow log flush interval.
func (c Config) flowLogsFlushInterval() time.Duration {
	if c.FlowLogsFlushInterval > 0 {
		return c.FlowLogsFlushInterval
	}
	return 15 * time.Second
}

// clickHouseConfig is the lab's clickhouse-server configuration, with its
// data beside it.
func (c Config) clickHouseConfig() string { return c.path("clickhouse", "config.xml") }

// heldDir holds a file per component `calico-lab stop` stopped: the
// supervisor does not restart those until `calico-lab start`.
func (c Config) heldDir() string { return c.path("held") }

func (c Config) held(name string) bool {
	_, err := os.Stat(filepath.Join(c.heldDir(), name))
	return err == nil
}

func (c Config) statusFile() string   { return c.path("status.json") }
func (c Config) auditLogPath() string { return c.path("audit", "audit.log") }

// LinseedURL is where the log API is served.
func (c Config) LinseedURL() string {
	return "https://" + net.JoinHostPort(c.Host, fmt.Sprint(c.LinseedPort))
}

// The log API's credentials for users and tests: a client certificate
// and a ServiceAccount token allowed everything in linseed.tigera.io.
// ManagerURL is the console's address.
func (c Config) ManagerURL() string {
	return "https://" + net.JoinHostPort(c.Host, fmt.Sprint(c.ManagerPort))
}

// AdminTokenFile holds the lab administrator's token for the console.
func (c Config) AdminTokenFile() string { return c.pkiPath("admin.token") }

func (c Config) managerTokenFile() string { return c.pkiPath("manager.token") }

// intrusionTokenFile holds calico-intrusion-detection's token for Linseed.
func (c Config) intrusionTokenFile() string { return c.pkiPath("intrusion-detection.token") }

func (c Config) LinseedClientCert() string           { return c.pkiPath("linseed-user.crt") }
func (c Config) LinseedClientKey() string            { return c.pkiPath("linseed-user.key") }
func (c Config) LinseedTokenFile() string            { return c.pkiPath("linseed-user.token") }
func (c Config) CAPath() string                      { return c.pkiPath("ca.crt") }
func (c Config) shipperTokenFile() string            { return c.pkiPath("log-shipper.token") }
func (c Config) componentKubeconfig(n string) string { return c.path(n + ".kubeconfig") }

// LoadConfig reads the configuration a lab was started with from its state
// directory.
func LoadConfig(stateDir string) (Config, error) {
	var cfg Config
	path := filepath.Join(stateDir, "lab.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read lab configuration: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("read lab configuration %s: %w", path, err)
	}
	return cfg, nil
}

// EtcdURL is where etcd serves clients.
func (c Config) EtcdURL() string {
	return "http://" + net.JoinHostPort(c.Host, fmt.Sprint(c.EtcdClientPort))
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1.
//
// They are taken below the kernel's ephemeral range: a port from that
// range can become the source port of some outgoing connection between
// being found free and being bound, and the component meant to listen on
// it then fails with "address already in use". The search starts at a
// random port and takes consecutive free ones, so that labs found at the
// same time rarely pick the same ports.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	take := func(port int) error {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			held = append(held, l)
			ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		}
		return err
	}
	const low = 20000
	high := ephemeralLow()
	span := high - low
	if span < 64*n {
		// Too few to search: let the kernel choose.
		for range n {
			if err := take(0); err != nil {
				return nil, err
			}
		}
		return ports, nil
	}
	first := rand.IntN(span)
	for i := 0; i < span && len(ports) < n; i++ {
		_ = take(low + (first+i)%span)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("found only %d free ports of %d between %d and %d", len(ports), n, low, high)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	data, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(data)); len(f) == 2 {
		if p, err := strconv.Atoi(f[0]); err == nil {
			return p
		}
	}
	return 32768 // Linux's default
}
