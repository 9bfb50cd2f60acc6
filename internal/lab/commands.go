package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/calicong/calico/internal/manifests"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/lab/noderuntime"
	"github.com/calicong/calico/internal/lab/probe"
)

// ErrUsage marks a command used wrongly (exit code 2 for probe).
var ErrUsage = errors.New("usage")

// endpoint is where a probe starts or ends: a pod, a node or an address.
type endpoint struct {
	Name string // what the user gave
	NS   string // network namespace to act from ("" for a bare address)
	IP   netip.Addr
}

type labView struct {
	cfg  Config
	rec  *nodesRecord
	kube kubernetes.Interface
}

func openLab(cfg Config) (*labView, error) {
	if supervisorPID(cfg) == 0 {
		return nil, ErrNotUp
	}
	rec, err := readNodes(cfg)
	if err != nil {
		return nil, err
	}
	c, err := datastore.Connect(cfg.KubeconfigPath())
	if err != nil {
		return nil, err
	}
	return &labView{cfg: cfg, rec: rec, kube: c.Kube}, nil
}

func (l *labView) host(name string) (multihost.HostSpec, bool) {
	if l.rec != nil {
		for _, h := range l.rec.Cluster.Hosts {
			if h.Name == name {
				return h, true
			}
		}
	}
	return multihost.HostSpec{}, false
}

// podNS is the network namespace the node runtime made for a pod.
func (l *labView) podNS(p *corev1.Pod) string {
	return l.rec.Cluster.Prefix + "-" + noderuntime.SandboxRole(p.UID)
}

// resolve finds a pod ("namespace/name"), a node (its name) or takes an
// address.
func (l *labView) resolve(ctx context.Context, s string) (endpoint, error) {
	if ns, name, ok := strings.Cut(s, "/"); ok {
		p, err := l.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return endpoint{}, fmt.Errorf("%w: pod %s not found", ErrUsage, s)
		}
		if err != nil {
			return endpoint{}, err
		}
		if p.Status.PodIP == "" {
			return endpoint{}, fmt.Errorf("pod %s has no address yet (phase %s)", s, p.Status.Phase)
		}
		ip, _ := netip.ParseAddr(p.Status.PodIP)
		e := endpoint{Name: s, IP: ip}
		if l.rec != nil {
			e.NS = l.podNS(p)
			if p.Spec.HostNetwork {
				if h, ok := l.host(p.Spec.NodeName); ok {
					e.NS = h.NS
				}
			}
		}
		return e, nil
	}
	if h, ok := l.host(s); ok {
		return endpoint{Name: s, NS: h.NS, IP: h.IP.Addr()}, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("%w: %q is neither NAMESPACE/POD, a node nor an address", ErrUsage, s)
	}
	e := endpoint{Name: s, IP: ip}
	// An address of a pod or a node: act from there.
	if l.rec != nil {
		for _, h := range l.rec.Cluster.Hosts {
			if h.IP.Addr() == ip {
				e.NS = h.NS
			}
		}
		pods, err := l.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.podIP=" + ip.String()})
		if err == nil {
			for i := range pods.Items {
				if p := &pods.Items[i]; !p.Spec.HostNetwork && p.DeletionTimestamp == nil {
					e.NS = l.podNS(p)
				}
			}
		}
	}
	return e, nil
}

// ProbeResult is what `calico-lab probe -o json` prints.
type ProbeResult struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Port      int    `json:"port"`
	Protocol  string `json:"protocol"`
	Connected bool   `json:"connected"`
	// Resolved is the address a DNS name resolved to (through the
	// cluster DNS, from the probing pod).
	Resolved string `json:"resolved,omitempty"`
}

// Probe tries one connection from one endpoint to another.
func Probe(ctx context.Context, cfg Config, from, to string, port int, protocol string, timeout time.Duration) (ProbeResult, error) {
	res := ProbeResult{From: from, To: to, Port: port, Protocol: strings.ToLower(protocol)}
	switch res.Protocol {
	case "tcp", "udp", "sctp":
	default:
		return res, fmt.Errorf("%w: --protocol %q: use tcp, udp or sctp", ErrUsage, protocol)
	}
	if port <= 0 || port > 65535 {
		return res, fmt.Errorf("%w: --port %d: give a port from 1 to 65535", ErrUsage, port)
	}
	l, err := openLab(cfg)
	if err != nil {
		return res, err
	}
	src, err := l.resolve(ctx, from)
	if err != nil {
		return res, err
	}
	if src.NS == "" {
		return res, fmt.Errorf("%w: %s is not a pod or node of the lab: there is nowhere to probe from", ErrUsage, from)
	}
	if isDNSName(to) {
		// A name: resolved as the pod's resolver would, through the
		// cluster DNS, and connected to at once.
		r, addr, err := probe.ResolveConnect(src.NS, strings.ToUpper(res.Protocol), cfg.ClusterDNS(), to, port, timeout)
		if err != nil {
			return res, err
		}
		res.Resolved, res.Connected = addr.String(), r.Connected
		return res, nil
	}
	dst, err := l.resolve(ctx, to)
	if err != nil {
		return res, err
	}
	r, err := probe.Connect(src.NS, strings.ToUpper(res.Protocol), dst.IP.String(), port, timeout)
	if err != nil {
		return res, err
	}
	res.Connected = r.Connected
	return res, nil
}

// isDNSName tells a DNS name (a dot, no slash, not an address) from
// the other probe targets.
func isDNSName(s string) bool {
	_, err := netip.ParseAddr(s)
	return err != nil && strings.Contains(s, ".") && !strings.Contains(s, "/")
}

// Namespace is the network namespace of a lab pod ("NS/NAME") or node,
// for programs that act from inside it (probe.InNamespace).
func Namespace(ctx context.Context, cfg Config, target string) (string, error) {
	l, err := openLab(cfg)
	if err != nil {
		return "", err
	}
	e, err := l.resolve(ctx, target)
	if err != nil {
		return "", err
	}
	if e.NS == "" {
		return "", fmt.Errorf("%w: %s is not a pod or node of the lab", ErrUsage, target)
	}
	return e.NS, nil
}

// Exec runs a command inside a pod's or a node's network namespace and
// returns its exit code. In a node, CALICO_RUN_DIR points at the node's
// calico-node (so `calicoctl node status` works) and KUBECONFIG at the lab.
func Exec(ctx context.Context, cfg Config, target string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return 2, fmt.Errorf("%w: give a command after --", ErrUsage)
	}
	l, err := openLab(cfg)
	if err != nil {
		return 2, err
	}
	e, err := l.resolve(ctx, target)
	if err != nil {
		return 2, err
	}
	if e.NS == "" {
		return 2, fmt.Errorf("%w: %s is not a pod or node of the lab", ErrUsage, target)
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/var/run/netns/" + e.NS, "--"}, argv...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cfg.KubeconfigPath(), "PATH="+filepath.Dir(cfg.Executable)+":"+os.Getenv("PATH"))
	if h, ok := l.host(target); ok {
		cmd.Env = append(cmd.Env, "CALICO_RUN_DIR="+filepath.Join(h.Dir, "run"))
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 2, err
	}
	return 0, nil
}

// LogPath is where a component's log is: a control-plane component's, a
// node agent's (COMPONENT node-agent), or calico-node's on a node.
func LogPath(cfg Config, component, node string) (string, error) {
	switch {
	case component == "calico-node" || component == "kube-proxy" || component == "cni" || component == "calico-typha":
		if node == "" {
			return "", whichNode(cfg, component)
		}
		rec, err := readNodes(cfg)
		if err != nil {
			return "", err
		}
		if rec != nil {
			for _, h := range rec.Cluster.Hosts {
				if h.Name == node {
					return filepath.Join(h.Dir, component+".log"), nil
				}
			}
		}
		return "", fmt.Errorf("%w: the lab has no node %q", ErrUsage, node)
	case component == "node-agent":
		if node == "" {
			return "", fmt.Errorf("%w: say which node's agent with --node", ErrUsage)
		}
		return cfg.logPath(node), nil
	case component == prometheusName:
		rec, err := readNodes(cfg)
		if err != nil || rec == nil {
			return "", fmt.Errorf("%w: the lab has no nodes, so no Prometheus", ErrUsage)
		}
		return filepath.Join(rec.Cluster.Dir, monitoringName, prometheusName+".log"), nil
	case component == monitoringName || component == manifests.PrometheusServiceName || component == "calico-kube-controllers":
		return cfg.logPath(component), nil
	}
	for _, c := range components(cfg) {
		if c.name == component {
			return cfg.logPath(component), nil
		}
	}
	var names []string
	for _, c := range components(cfg) {
		names = append(names, c.name)
	}
	return "", fmt.Errorf("%w: unknown component %q (control plane: %s; per node: calico-node, kube-proxy, cni, node-agent, calico-typha; monitoring: monitoring, prometheus, calico-prometheus-service)", ErrUsage, component, strings.Join(names, ", "))
}

// whichNode is the error for a per-node component named without --node.
func whichNode(cfg Config, component string) error {
	if component != "calico-typha" {
		return fmt.Errorf("%w: %s runs on every node: say which with --node", ErrUsage, component)
	}
	var on []string
	if rec, _ := readNodes(cfg); rec != nil {
		for i, h := range rec.Cluster.Hosts {
			if cfg.typhaNode(i) {
				on = append(on, h.Name)
			}
		}
	}
	if len(on) == 0 {
		return fmt.Errorf("%w: this lab runs no calico-typha (calico-lab up --typha-replicas N)", ErrUsage)
	}
	return fmt.Errorf("%w: calico-typha runs on %s: say which replica with --node", ErrUsage, strings.Join(on, ", "))
}

// Restart restarts one component as a process supervisor would:
// calico-node, kube-proxy or a calico-typha replica on a node through its
// agent, a control-plane component or a
// node agent by stopping it (the supervisor starts it again).
func Restart(ctx context.Context, cfg Config, component, node string) error {
	if supervisorPID(cfg) == 0 {
		return ErrNotUp
	}
	if component == "calico-node" || component == "kube-proxy" || component == "calico-typha" {
		if node == "" {
			return whichNode(cfg, component)
		}
		rec, err := readNodes(cfg)
		if err != nil {
			return err
		}
		port, ok := 0, false
		if rec != nil {
			port, ok = rec.AgentPorts[node]
		}
		if !ok {
			return fmt.Errorf("%w: the lab has no node %q", ErrUsage, node)
		}
		_, err = agentRestart(ctx, node, port, component, false)
		return err
	}
	if component == prometheusName {
		rec, err := readNodes(cfg)
		if err != nil || rec == nil || rec.Monitoring.Agent == 0 {
			return fmt.Errorf("%w: the lab has no nodes, so no Prometheus", ErrUsage)
		}
		_, err = agentRestart(ctx, monitoringName, rec.Monitoring.Agent, component, false)
		return err
	}
	c, err := supervised(cfg, component, node)
	if err != nil {
		return err
	}
	return stopComponent(cfg, c)
}

// supervised finds a component the supervisor runs (the control plane,
// Linseed, the log shippers, a node agent by --node) in its status.
func supervised(cfg Config, component, node string) (ComponentStatus, error) {
	name := component
	if component == "node-agent" {
		if node == "" {
			return ComponentStatus{}, fmt.Errorf("%w: say which node's agent with --node", ErrUsage)
		}
		name = node
	}
	st, err := ReadStatus(cfg)
	if err != nil {
		return ComponentStatus{}, err
	}
	for _, c := range st.Components {
		if c.Name == name {
			return c, nil
		}
	}
	return ComponentStatus{}, fmt.Errorf("%w: the lab runs no %q (see calico-lab status)", ErrUsage, name)
}

// stopComponent stops a supervised component's process.
func stopComponent(cfg Config, c ComponentStatus) error {
	if c.PID == 0 {
		return fmt.Errorf("%s is not running (state %s)", c.Name, c.State)
	}
	if !componentIsOurs(cfg, c.PID, c.Name) {
		return fmt.Errorf("PID %d is not the lab's %s any more", c.PID, c.Name)
	}
	stopPID(c.PID, 30*time.Second, sameProcess(c.PID))
	return nil
}

// Stop stops a component the supervisor runs and keeps it stopped until
// Start, as `systemctl stop` would: to see how the rest copes without it
// (the log shippers without Linseed, say). It returns once the supervisor
// reports it stopped. The node components (calico-node, kube-proxy,
// calico-typha) belong to their node's agent and are only restarted.
func Stop(ctx context.Context, cfg Config, component, node string) error {
	if supervisorPID(cfg) == 0 {
		return ErrNotUp
	}
	if component == "calico-node" || component == "kube-proxy" || component == "calico-typha" {
		return fmt.Errorf("%w: %s runs under its node's agent: restart it, or stop the agent (calico-lab stop node-agent --node NAME)", ErrUsage, component)
	}
	c, err := supervised(cfg, component, node)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.heldDir(), 0o700); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(cfg.heldDir(), c.Name), nil, 0o600); err != nil {
		return err
	}
	if c.State == "stopped" && c.PID == 0 {
		return nil
	}
	if err := stopComponent(cfg, c); err != nil {
		os.Remove(filepath.Join(cfg.heldDir(), c.Name))
		return err
	}
	return waitState(ctx, cfg, c.Name, "stopped", 30*time.Second)
}

// Start lets the supervisor start a component Stop stopped, and returns
// once it is running and healthy again.
func Start(ctx context.Context, cfg Config, component, node string) error {
	if supervisorPID(cfg) == 0 {
		return ErrNotUp
	}
	c, err := supervised(cfg, component, node)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(cfg.heldDir(), c.Name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s was not stopped with calico-lab stop (state %s)", ErrUsage, c.Name, c.State)
		}
		return err
	}
	return waitState(ctx, cfg, c.Name, "running", startTimeout+30*time.Second)
}

// waitState polls the supervisor's status until a component is in state.
func waitState(ctx context.Context, cfg Config, name, state string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		if st, err := ReadStatus(cfg); err == nil {
			for _, c := range st.Components {
				if c.Name != name {
					continue
				}
				if c.State == state {
					return nil
				}
				last = c.State
				if c.LastExit != "" {
					last += " (" + firstLine(c.LastExit) + ")"
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is %s, not %s, after %v; see calico-lab logs %s", name, last, state, timeout, name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// agentRestart asks a node's agent to restart one of its components and,
// with wait, to answer once the new process is ready.
func agentRestart(ctx context.Context, node string, port int, component string, wait bool) (string, error) {
	u := fmt.Sprintf("http://127.0.0.1:%d/restart?component=%s", port, component)
	if wait {
		u += "&wait=1"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("node %s's agent: %w", node, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("node %s's agent: %s", node, strings.TrimSpace(string(b)))
	}
	return strings.TrimSpace(string(b)), nil
}

// Rollout restarts a node component on every node, one node at a time,
// each only after the previous node's new process is ready: what a
// DaemonSet's rolling update with maxUnavailable 1 does
// (manifests/calico-node.yaml). It stops at the first node that does not
// become ready within perNode.
func Rollout(ctx context.Context, cfg Config, component string, perNode time.Duration, out io.Writer) error {
	if supervisorPID(cfg) == 0 {
		return ErrNotUp
	}
	if component != "calico-node" && component != "kube-proxy" {
		return fmt.Errorf("%w: rollout restarts calico-node or kube-proxy, not %q", ErrUsage, component)
	}
	rec, err := readNodes(cfg)
	if err != nil {
		return err
	}
	if rec == nil || len(rec.Cluster.Hosts) == 0 {
		return fmt.Errorf("%w: the lab has no nodes", ErrUsage)
	}
	for i, h := range rec.Cluster.Hosts {
		nctx, cancel := context.WithTimeout(ctx, perNode)
		msg, err := agentRestart(nctx, h.Name, rec.AgentPorts[h.Name], component, true)
		cancel()
		if err != nil {
			return fmt.Errorf("rollout stopped at %s (%d of %d): %w", h.Name, i+1, len(rec.Cluster.Hosts), err)
		}
		fmt.Fprintf(out, "%s (%d/%d): %s\n", h.Name, i+1, len(rec.Cluster.Hosts), msg)
	}
	return nil
}

// PrintProbe writes a probe result as text or JSON.
func PrintProbe(w io.Writer, r ProbeResult, format string) error {
	if format == "json" {
		b, _ := json.Marshal(r)
		_, err := fmt.Fprintln(w, string(b))
		return err
	}
	verdict := "connected"
	if !r.Connected {
		verdict = "not connected"
	}
	to := r.To
	if r.Resolved != "" {
		to += " (" + r.Resolved + ")"
	}
	_, err := fmt.Fprintf(w, "%s → %s %s/%d: %s\n", r.From, to, r.Protocol, r.Port, verdict)
	return err
}
