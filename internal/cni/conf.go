package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// Defaults.
const (
	DefaultNodenameFile = "/var/lib/calico/nodename"
	DefaultLockFile     = "/var/run/calico/ipam.lock"
	DefaultMTU          = 1500
)

// NetConf is the configuration of both plugins (Calico's field names).
type NetConf struct {
	types.PluginConf
	Mode     string `json:"mode,omitempty"`
	Nodename string `json:"nodename,omitempty"`
	// NodenameFile holds the node name calico-node wrote at start-up.
	NodenameFile         string `json:"nodename_file,omitempty"`
	NodenameFileOptional bool   `json:"nodename_file_optional,omitempty"`
	DatastoreType        string `json:"datastore_type,omitempty"`
	MTU                  int    `json:"mtu,omitempty"`
	LogLevel             string `json:"log_level,omitempty"`
	LogFilePath          string `json:"log_file_path,omitempty"`
	// LogFileMaxSize is the log file's size, in MB, at which it is moved
	// to <log_file_path>.1 and a new one begun (default 100).
	LogFileMaxSize int      `json:"log_file_max_size,omitempty"`
	IPAMLockFile   string   `json:"ipam_lock_file,omitempty"`
	IPAM           IPAMConf `json:"ipam"`
	Kubernetes     struct {
		Kubeconfig string `json:"kubeconfig,omitempty"`
		NodeName   string `json:"node_name,omitempty"`
	} `json:"kubernetes"`
	Policy struct {
		Type string `json:"type,omitempty"`
	} `json:"policy"`
	ContainerSettings struct {
		AllowIPForwarding bool `json:"allow_ip_forwarding,omitempty"`
	} `json:"container_settings"`
	FeatureControl struct {
		IPAddrsNoIPAM bool `json:"ip_addrs_no_ipam,omitempty"`
	} `json:"feature_control"`
}

// IPAMConf is the ipam section. Calico writes assign_ipv4/assign_ipv6 as
// strings ("true"/"false"); booleans are accepted too.
type IPAMConf struct {
	Type       string   `json:"type"`
	AssignIPv4 *flag    `json:"assign_ipv4,omitempty"`
	AssignIPv6 *flag    `json:"assign_ipv6,omitempty"`
	IPv4Pools  []string `json:"ipv4_pools,omitempty"`
	IPv6Pools  []string `json:"ipv6_pools,omitempty"`
}

// flag is a boolean written as a JSON boolean or string.
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*f = flag(v)
	case string:
		switch strings.ToLower(v) {
		case "true":
			*f = true
		case "false":
			*f = false
		default:
			return fmt.Errorf("%q: use true or false", v)
		}
	default:
		return fmt.Errorf("%s: use true or false", b)
	}
	return nil
}

// V4 and V6 say which families to assign (IPv4 by default).
func (c *IPAMConf) V4() bool { return c.AssignIPv4 == nil || bool(*c.AssignIPv4) }
func (c *IPAMConf) V6() bool { return c.AssignIPv6 != nil && bool(*c.AssignIPv6) }

// ConfError is a configuration problem: CNI error code 7.
type ConfError struct{ Field, Problem string }

func (e *ConfError) Error() string {
	return fmt.Sprintf("network configuration: %s: %s", e.Field, e.Problem)
}

// ParseConf decodes and checks the configuration on stdin.
func ParseConf(stdin []byte) (*NetConf, error) {
	var c NetConf
	if err := json.Unmarshal(stdin, &c); err != nil {
		var fe *json.UnmarshalTypeError
		if errors.As(err, &fe) {
			return nil, &ConfError{Field: fe.Field, Problem: fmt.Sprintf("expected %s, got a JSON %s", fe.Type, fe.Value)}
		}
		return nil, &ConfError{Field: "(document)", Problem: "not valid JSON: " + err.Error()}
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if c.Name == "" {
		bad("name", "required (the network's name, e.g. k8s-pod-network)")
	}
	if c.IPAM.Type == "" {
		bad("ipam.type", "required (calico-ipam, or another IPAM plugin such as host-local)")
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		bad("mtu", "%d is out of range 68-65535", c.MTU)
	}
	if c.DatastoreType != "" && c.DatastoreType != "kubernetes" {
		bad("datastore_type", "%q is not supported: only kubernetes", c.DatastoreType)
	}
	switch strings.ToLower(c.LogLevel) {
	case "", "debug", "info", "warning", "warn", "error", "fatal", "panic", "none":
	default:
		bad("log_level", "%q: use debug, info, warning or error", c.LogLevel)
	}
	if c.IPAM.Type == "calico-ipam" && !c.IPAM.V4() && !c.IPAM.V6() {
		bad("ipam", "assign_ipv4 and assign_ipv6 are both false: nothing to assign")
	}
	if k := c.Kubernetes.Kubeconfig; k != "" {
		if _, err := os.Stat(k); err != nil {
			bad("kubernetes.kubeconfig", "%v", err)
		}
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.NodenameFile == "" {
		c.NodenameFile = DefaultNodenameFile
	}
	if c.IPAMLockFile == "" {
		c.IPAMLockFile = DefaultLockFile
	}
	return &c, errors.Join(errs...)
}

// NodeName resolves the node: kubernetes.node_name, nodename, the
// nodename file calico-node writes, else the host name.
func (c *NetConf) NodeName() (string, error) {
	if c.Kubernetes.NodeName != "" {
		return c.Kubernetes.NodeName, nil
	}
	if c.Nodename != "" {
		return c.Nodename, nil
	}
	b, err := os.ReadFile(c.NodenameFile)
	if err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", c.NodenameFile, err)
	}
	if c.NodenameFile != DefaultNodenameFile && !c.NodenameFileOptional {
		return "", &ConfError{Field: "nodename_file", Problem: c.NodenameFile + " does not exist (is calico-node running on this node?)"}
	}
	return os.Hostname()
}

// K8sArgs are the Kubernetes fields of CNI_ARGS.
type K8sArgs struct {
	Namespace, Pod, InfraContainerID, PodUID string
}

// ParseK8sArgs reads K8S_POD_NAMESPACE, K8S_POD_NAME, ... from CNI_ARGS
// ("K=V;K=V").
func ParseK8sArgs(args string) (K8sArgs, error) {
	var a K8sArgs
	for _, kv := range strings.Split(args, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch k {
		case "K8S_POD_NAMESPACE":
			a.Namespace = v
		case "K8S_POD_NAME":
			a.Pod = v
		case "K8S_POD_INFRA_CONTAINER_ID":
			a.InfraContainerID = v
		case "K8S_POD_UID":
			a.PodUID = v
		}
	}
	if a.Namespace == "" || a.Pod == "" {
		return a, errors.New("CNI_ARGS must carry K8S_POD_NAMESPACE and K8S_POD_NAME (the container runtime sets them for Kubernetes pods)")
	}
	return a, nil
}

// HandleID is the IPAM handle of a container on a network.
func HandleID(network, containerID string) string { return network + "." + containerID }
