// Package multihost builds a cluster's worth of hosts on one machine out
// of network namespaces: an underlay namespace with a bridge, hosts
// attached to it by veths (each with its own address, routes, nftables
// and processes), and pods on the hosts wired by the real CNI plugin.
// The control plane stays in the current namespace and is relayed into
// each host at the same address, so a kubeconfig works unchanged there.
//
// Everything it creates is named with the caller's prefix and removed by
// Close: the processes it started (by PID), the pods' and hosts'
// namespaces, the underlay.
package multihost

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/calicong/calico/internal/lab/relay"
	"github.com/calicong/calico/internal/proc"
)

// Cluster is an underlay and its hosts.
type Cluster struct {
	// Underlay is the namespace holding the bridge every host is on.
	Underlay string
	// Subnet is the hosts' network; hosts get .10, .11, ...
	Subnet netip.Prefix
	// Subnet6, if valid, gives hosts IPv6 addresses too.
	Subnet6 netip.Prefix
	// Dir holds the hosts' files.
	Dir string

	prefix string
	// attached: another process made the cluster (see Attach).
	attached bool
	mu       sync.Mutex
	hosts    []*Host
	nss      []string // every namespace made, in order
	procs    []*Process
	relays   []*relay.Relay
}

// Host is one host of the cluster.
type Host struct {
	c    *Cluster
	Name string
	// NS is the host's network namespace.
	NS string
	// IP and IP6 are the host's addresses on the underlay.
	IP, IP6 netip.Prefix
	// Dir is the host's own directory (configuration, sockets, logs).
	Dir string
	cni *cniSetup
}

// New makes the underlay. Namespaces are named prefix + a random id; the
// prefix says who made them (tests use netnstest.Prefix). The hosts'
// files go in a new temporary directory.
func New(prefix string, subnet netip.Prefix) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "multihost-")
	if err != nil {
		return nil, err
	}
	return NewIn(prefix, subnet, dir)
}

// NewIn is New with the hosts' files in dir.
func NewIn(prefix string, subnet netip.Prefix, dir string) (*Cluster, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{Subnet: subnet.Masked(), Dir: dir, prefix: fmt.Sprintf("%s%06x", prefix, rand.IntN(1<<24))}
	ul, err := c.newNS("ul")
	if err != nil {
		c.Close()
		return nil, err
	}
	c.Underlay = ul
	if err := c.run("ip", "-n", ul, "link", "add", "br0", "type", "bridge"); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.run("ip", "-n", ul, "link", "set", "br0", "up"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) nsName(role string) string {
	name := c.prefix + "-" + role
	if len(name) > 48 {
		name = name[:48]
	}
	return name
}

func (c *Cluster) newNS(role string) (string, error) {
	name := c.nsName(role)
	if err := c.run("ip", "netns", "add", name); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.nss = append(c.nss, name)
	c.mu.Unlock()
	return name, c.run("ip", "-n", name, "link", "set", "lo", "up")
}

// ensureNS is newNS, reusing a namespace of ours that exists (made by an
// earlier process of an attached cluster, say).
func (c *Cluster) ensureNS(role string) (string, error) {
	name := c.nsName(role)
	c.mu.Lock()
	have := slices.Contains(c.nss, name)
	c.mu.Unlock()
	if have {
		return name, nil
	}
	if _, err := os.Stat(filepath.Join("/var/run/netns", name)); err == nil {
		c.mu.Lock()
		c.nss = append(c.nss, name)
		c.mu.Unlock()
		return name, nil
	}
	return c.newNS(role)
}

// Spec records a cluster so that another process can attach to it.
type Spec struct {
	Prefix   string       `json:"prefix"`
	Underlay string       `json:"underlay"`
	Subnet   netip.Prefix `json:"subnet"`
	Subnet6  netip.Prefix `json:"subnet6,omitempty"`
	Dir      string       `json:"dir"`
	Hosts    []HostSpec   `json:"hosts"`
}

// HostSpec records a host.
type HostSpec struct {
	Name string       `json:"name"`
	NS   string       `json:"ns"`
	IP   netip.Prefix `json:"ip"`
	IP6  netip.Prefix `json:"ip6,omitempty"`
	Dir  string       `json:"dir"`
}

// Spec describes the cluster.
func (c *Cluster) Spec() Spec {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Spec{Prefix: c.prefix, Underlay: c.Underlay, Subnet: c.Subnet, Subnet6: c.Subnet6, Dir: c.Dir}
	for _, h := range c.hosts {
		s.Hosts = append(s.Hosts, HostSpec{Name: h.Name, NS: h.NS, IP: h.IP, IP6: h.IP6, Dir: h.Dir})
	}
	return s
}

// Attach works on a cluster another process made: nothing is created,
// and Close stops only what this process started and deletes only the
// namespaces it made (pods'), leaving the hosts and the underlay to their
// maker (see Remove).
func Attach(s Spec) *Cluster {
	c := &Cluster{Underlay: s.Underlay, Subnet: s.Subnet, Subnet6: s.Subnet6, Dir: s.Dir, prefix: s.Prefix, attached: true}
	for _, hs := range s.Hosts {
		c.hosts = append(c.hosts, &Host{c: c, Name: hs.Name, NS: hs.NS, IP: hs.IP, IP6: hs.IP6, Dir: hs.Dir})
	}
	return c
}

// Host is the named host.
func (c *Cluster) Host(name string) (*Host, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.hosts {
		if h.Name == name {
			return h, true
		}
	}
	return nil, false
}

// Remove deletes every namespace of a recorded cluster (hosts, pods, the
// underlay) and its directory: whatever processes made them, as long as
// they carry the cluster's prefix. Processes still running in them must
// be stopped first.
func Remove(s Spec) error {
	entries, err := os.ReadDir("/var/run/netns")
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), s.Prefix+"-") {
			if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", e.Name(), err, strings.TrimSpace(string(out))))
			}
		}
	}
	if s.Dir != "" {
		errs = append(errs, os.RemoveAll(s.Dir))
	}
	return errors.Join(errs...)
}

// deleteNS removes one of our namespaces.
func (c *Cluster) deleteNS(name string) error {
	c.mu.Lock()
	i := slices.Index(c.nss, name)
	if i >= 0 {
		c.nss = slices.Delete(c.nss, i, i+1)
	}
	c.mu.Unlock()
	if i < 0 {
		return nil
	}
	return c.run("ip", "netns", "del", name)
}

func (c *Cluster) run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Hosts are the hosts, in the order they were added.
func (c *Cluster) Hosts() []*Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.hosts)
}

// AddHost attaches a new host to the underlay with the next address, a
// default route out of its eth0 (the kernel answers ARP for pods' gateway
// only when it has a route there), and forwarding on.
func (c *Cluster) AddHost(name string) (*Host, error) {
	c.mu.Lock()
	n := len(c.hosts)
	c.mu.Unlock()
	ip, err := NthAddr(c.Subnet, 10+n)
	if err != nil {
		return nil, err
	}
	ns, err := c.newNS(name)
	if err != nil {
		return nil, err
	}
	h := &Host{c: c, Name: name, NS: ns, IP: ip, Dir: filepath.Join(c.Dir, name)}
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return nil, err
	}
	port := fmt.Sprintf("p%d-%s", n, name)
	if len(port) > 15 {
		port = port[:15]
	}
	steps := [][]string{
		{"ip", "-n", c.Underlay, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "-n", c.Underlay, "link", "set", port, "master", "br0", "up"},
		{"ip", "-n", ns, "addr", "add", ip.String(), "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "route", "add", "default", "dev", "eth0"},
		{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
	}
	if c.Subnet6.IsValid() {
		h.IP6, err = NthAddr(c.Subnet6, 10+n)
		if err != nil {
			return nil, err
		}
		steps = append(steps,
			[]string{"ip", "-n", ns, "addr", "add", h.IP6.String(), "dev", "eth0", "nodad"},
			[]string{"ip", "-n", ns, "-6", "route", "add", "default", "dev", "eth0"},
			[]string{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"})
	}
	for _, s := range steps {
		if err := c.run(s...); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.hosts = append(c.hosts, h)
	c.mu.Unlock()
	return h, nil
}

// NthAddr is the subnet's n-th address with the subnet's prefix length.
func NthAddr(p netip.Prefix, n int) (netip.Prefix, error) {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	if !p.Contains(a) {
		return netip.Prefix{}, fmt.Errorf("subnet %s has no room for host %d", p, n)
	}
	return netip.PrefixFrom(a, p.Bits()), nil
}

// BridgeHost is the underlay namespace itself as a host: a machine on
// the hosts' network at the subnet's first address (given to the bridge),
// which reaches every host directly. It is not one of Hosts; the lab
// runs its monitoring there. Asking again returns the same host.
func (c *Cluster) BridgeHost(name string) (*Host, error) {
	ip, err := NthAddr(c.Subnet, 1)
	if err != nil {
		return nil, err
	}
	h := &Host{c: c, Name: name, NS: c.Underlay, IP: ip, Dir: filepath.Join(c.Dir, name)}
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return nil, err
	}
	return h, c.run("ip", "-n", c.Underlay, "addr", "replace", ip.String(), "dev", "br0")
}

// Relay makes addr (of the current namespace) reachable at the same
// address in the host, for as long as the cluster lives.
func (h *Host) Relay(addr string) error { return h.RelayAt(addr, addr) }

// RelayAt makes dial (of the current namespace) reachable at listen in
// the host, for as long as the cluster lives.
func (h *Host) RelayAt(listen, dial string) error {
	return h.keep(relay.ListenAt(h.NS, listen, dial))
}

// Expose makes dial (in the host) reachable at listen in the current
// namespace, for as long as the cluster lives.
func (h *Host) Expose(listen, dial string) error {
	return h.keep(relay.Into(h.NS, listen, dial))
}

func (h *Host) keep(r *relay.Relay, err error) error {
	if err != nil {
		return fmt.Errorf("relaying to and from %s: %w", h.Name, err)
	}
	h.c.mu.Lock()
	h.c.relays = append(h.c.relays, r)
	h.c.mu.Unlock()
	return nil
}

// Exec runs a command in the host's namespace and returns its output.
func (h *Host) Exec(argv ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=/var/run/netns/" + h.NS, "--"}, argv...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s on %s: %v: %s", strings.Join(argv, " "), h.Name, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Process is a program started in a host.
type Process struct {
	Host *Host
	Name string
	Log  string // where its output goes
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs a program in the host with the given extra environment; its
// output goes to Dir/<name>.log. It dies with the caller (SIGKILL) if not
// stopped first.
func (h *Host) Start(name string, env []string, argv ...string) (*Process, error) {
	logPath := filepath.Join(h.Dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("nsenter", append([]string{"--net=/var/run/netns/" + h.NS, "--"}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = h.Dir
	exited, err := proc.Start(cmd, syscall.SIGKILL)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s on %s: %w", name, h.Name, err)
	}
	p := &Process{Host: h, Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = <-exited
		f.Close()
		close(p.done)
	}()
	h.c.mu.Lock()
	h.c.procs = append(h.c.procs, p)
	h.c.mu.Unlock()
	return p, nil
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// PID is the process's ID (nsenter execs the program, so it is the
// program's).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited tells whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Kill ends the process at once, with no chance to clean up (a crash, as
// far as its peers can tell), and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and waits (SIGKILL after the grace period).
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && ee.ExitCode() == -1 {
		return nil // ended by our signal
	}
	return p.err
}

// Close stops every process started and removes every namespace made, in
// reverse order. It is safe to call more than once.
func (c *Cluster) Close() error {
	c.mu.Lock()
	procs, nss, relays := c.procs, c.nss, c.relays
	c.procs, c.nss, c.relays = nil, nil, nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { _ = p.Stop(10 * time.Second) })
	}
	wg.Wait()
	for _, r := range relays {
		r.Close()
	}
	var errs []error
	for _, ns := range slices.Backward(nss) {
		if err := c.run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Dir != "" && os.Getenv("MULTIHOST_KEEP") == "" && !c.attached {
		_ = os.RemoveAll(c.Dir)
	}
	return errors.Join(errs...)
}

// OutsideHost is a machine on the hosts' network that is not part of
// the cluster: the lab's stand-in for the internet. Its namespace is
// <prefix>-<name>, attached to the underlay with the subnet's addresses
// first, first+1, ... (n of them, IP the first). It is not one of Hosts.
// Asking again (from another process of an attached cluster too) returns
// the same host.
func (c *Cluster) OutsideHost(name string, first, n int) (*Host, []netip.Addr, error) {
	var addrs []netip.Addr
	for i := range n {
		p, err := NthAddr(c.Subnet, first+i)
		if err != nil {
			return nil, nil, err
		}
		addrs = append(addrs, p.Addr())
	}
	h := &Host{c: c, Name: name, IP: netip.PrefixFrom(addrs[0], c.Subnet.Bits()), Dir: filepath.Join(c.Dir, name)}
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(filepath.Join("/var/run/netns", c.nsName(name))); err == nil {
		ns, err := c.ensureNS(name)
		h.NS = ns
		return h, addrs, err
	}
	ns, err := c.newNS(name)
	if err != nil {
		return nil, nil, err
	}
	h.NS = ns
	port := "o-" + name
	if len(port) > 15 {
		port = port[:15]
	}
	steps := [][]string{
		{"ip", "-n", c.Underlay, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "-n", c.Underlay, "link", "set", port, "master", "br0", "up"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
	}
	for _, a := range addrs {
		steps = append(steps, []string{"ip", "-n", ns, "addr", "add", netip.PrefixFrom(a, c.Subnet.Bits()).String(), "dev", "eth0"})
	}
	for _, s := range steps {
		if err := c.run(s...); err != nil {
			return nil, nil, err
		}
	}
	return h, addrs, nil
}
