package bird

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/node/bgp"
	"github.com/calicong/calico/internal/poll"
)

func requireBird(t *testing.T) {
	t.Helper()
	netnstest.Require(t)
	netnstest.RequireBinaries(t, "bird")
}

type host struct {
	name, ns string
	ip       netip.Prefix
	d        *Daemon
	dir      string
	cancel   context.CancelFunc
	done     chan error
}

// wrapper is a "bird" that runs in a network namespace.
func wrapper(t *testing.T, dir, ns string) string {
	path := filepath.Join(dir, "bird-in-ns")
	bird, _ := exec.LookPath("bird")
	script := fmt.Sprintf("#!/bin/sh\nexec nsenter --net=/var/run/netns/%s %s \"$@\"\n", ns, bird)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func start(t *testing.T, h *host) {
	h.dir = t.TempDir()
	h.d = New(Config{Binary: wrapper(t, h.dir, h.ns), ConfigDir: filepath.Join(h.dir, "conf"), RunDir: filepath.Join(h.dir, "run"),
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), RestartBackoff: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
}

func input(self string, hosts []*host, blocks map[string][]string) *bgp.Input {
	in := &bgp.Input{Node: self, Nodes: map[string]*v3.Node{},
		Pools: []*v3.IPPool{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v3.IPPoolSpec{CIDR: "10.65.0.0/16"}}}}
	for _, h := range hosts {
		in.Nodes[h.name] = &v3.Node{ObjectMeta: metav1.ObjectMeta{Name: h.name}, Spec: v3.NodeSpec{BGP: &v3.NodeBGPSpec{IPv4Address: h.ip.String()}}}
	}
	for _, b := range blocks[self] {
		in.Blocks = append(in.Blocks, netip.MustParsePrefix(b))
	}
	return in
}

func established(h *host, peer string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ps, err := Protocols(ctx, h.d.Socket())
	if err != nil {
		return false
	}
	for _, p := range ps {
		if p.Name == peer && p.Proto == "BGP" && p.State == "up" && strings.HasPrefix(p.Info, "Established") {
			return true
		}
	}
	return false
}

func hasRoute(t *testing.T, ns, dst string) bool {
	out := netnstest.Run(t, "ip", "-n", ns, "route", "show", dst)
	return strings.Contains(out, dst)
}

func birdPID(t *testing.T, h *host) int {
	b, err := os.ReadFile(filepath.Join(h.d.cfg.RunDir, "bird.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// Two hosts on a link, each with a BIRD driven by this package: the
// session comes up and each host's block reaches the other's kernel; a
// configuration BIRD rejects is not installed and the session stays up;
// a reload adds a block without dropping the session; a BIRD killed is
// restarted and the routes come back; a BIRD stopped has its routes
// withdrawn by its peer.
func TestTwoHosts(t *testing.T) {
	requireBird(t)
	a := &host{name: "host-a", ns: netnstest.New(t, "bird-a"), ip: netip.MustParsePrefix("172.31.0.1/24")}
	b := &host{name: "host-b", ns: netnstest.New(t, "bird-b"), ip: netip.MustParsePrefix("172.31.0.2/24")}
	netnstest.Run(t, "ip", "-n", a.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b.ns)
	for _, h := range []*host{a, b} {
		netnstest.Run(t, "ip", "-n", h.ns, "addr", "add", h.ip.String(), "dev", "eth0")
		netnstest.Run(t, "ip", "-n", h.ns, "link", "set", "eth0", "up")
	}
	hosts := []*host{a, b}
	blocks := map[string][]string{"host-a": {"10.65.1.0/26"}, "host-b": {"10.65.2.0/26"}}
	ctx := context.Background()
	for _, h := range hosts {
		start(t, h)
		c, err := bgp.Render(input(h.name, hosts, blocks))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.d.Apply(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 20*time.Second, "session a-b established", func() bool { return established(a, "Mesh_172_31_0_2") && established(b, "Mesh_172_31_0_1") })
	poll.Until(t, 10*time.Second, "host-b learns host-a's block", func() bool { return hasRoute(t, b.ns, "10.65.1.0/26") })
	poll.Until(t, 10*time.Second, "host-a learns host-b's block", func() bool { return hasRoute(t, a.ns, "10.65.2.0/26") })
	if out := netnstest.Run(t, "ip", "-n", b.ns, "route", "show", "10.65.1.0/26"); !strings.Contains(out, "via 172.31.0.1") || !strings.Contains(out, "proto bird") {
		t.Errorf("host-b's route to host-a's block: %q", out)
	}
	// What status reports read.
	st, err := Status(ctx, b.d.Socket())
	if err != nil || st.RouterID != "172.31.0.2" || !strings.HasPrefix(st.Version, "2.") || st.LastBoot == "" {
		t.Errorf("status %+v %v", st, err)
	}
	ss, err := Sessions(ctx, b.d.Socket())
	if err != nil || len(ss) != 1 || ss[0].Name != "Mesh_172_31_0_1" || !ss[0].Established() || ss[0].Neighbor.String() != "172.31.0.1" || ss[0].State != "up" {
		t.Errorf("sessions %+v %v", ss, err)
	}
	// The socket for other tools (bird.ctl) answers the same, with the
	// table heading as BIRD 1.x prints it, which upstream calicoctl's
	// node status requires; our own readers work through it too.
	// (Since is left out of the comparison: on a busy machine a session
	// may re-establish between the two reads.)
	if ss2, err := Sessions(ctx, b.d.CompatSocket()); err != nil || len(ss2) != 1 || len(ss) != 1 || !sameSession(ss2[0], ss[0]) {
		t.Errorf("sessions through bird.ctl: %+v %v, want as through bird's own socket: %+v", ss2, err, ss)
	}
	if rep := rawShowProtocols(t, b.d.CompatSocket()); !strings.Contains(rep, "\n2002-name       proto      table      state  since         info") ||
		!strings.Contains(rep, "Mesh_172_31_0_1 BGP") {
		t.Errorf("show protocols through bird.ctl:\n%s", rep)
	}
	rs, err := Routes(ctx, b.d.Socket())
	if err != nil {
		t.Fatal(err)
	}
	var learned, own bool
	for _, r := range rs {
		switch r.Destination.String() {
		case "10.65.1.0/26":
			learned = r.Protocol == "Mesh_172_31_0_1" && r.Primary && r.Gateway.String() == "172.31.0.1" && r.Interface == "eth0"
		case "10.65.2.0/26":
			own = r.Protocol == "blocks4" && r.Kind == "blackhole"
		}
	}
	if !learned || !own {
		t.Errorf("routes (learned %v, own block %v): %+v", learned, own, rs)
	}

	// A configuration BIRD rejects: an error, and nothing changes.
	before, _ := os.ReadFile(filepath.Join(a.d.cfg.ConfigDir, MainFile))
	bad := &bgp.Config{Main: string(before) + "\nprotocol bgp broken { neighbor 1.2.3.4 as; }\n"}
	if err := a.d.Apply(ctx, bad); err == nil || !strings.Contains(err.Error(), "rejects") {
		t.Errorf("a broken configuration: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(a.d.cfg.ConfigDir, MainFile)); string(after) != string(before) {
		t.Errorf("a rejected configuration was installed")
	}

	// A reload with one more block: the session stays established
	// throughout (checked right after), and the new block arrives.
	blocks["host-a"] = append(blocks["host-a"], "10.65.9.0/26")
	c, _ := bgp.Render(input("host-a", hosts, blocks))
	if err := a.d.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	if !established(b, "Mesh_172_31_0_1") {
		t.Errorf("the reload dropped the session")
	}
	poll.Until(t, 10*time.Second, "host-b learns the new block", func() bool { return hasRoute(t, b.ns, "10.65.9.0/26") })

	// BIRD killed: restarted, and the session comes back.
	pid := birdPID(t, a)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "BIRD restarted", func() bool { return a.d.Restarts() > 0 })
	poll.Until(t, 30*time.Second, "session back after the restart", func() bool { return established(b, "Mesh_172_31_0_1") })

	// host-b stops (SIGTERM: BIRD tells its peers): host-a withdraws
	// host-b's block. (host-b, not the host just restarted: host-b still
	// treats host-a's old session as gracefully restarting, and would
	// keep its routes for the restart time.)
	poll.Until(t, 10*time.Second, "host-a relearns host-b's block", func() bool { return hasRoute(t, a.ns, "10.65.2.0/26") })
	b.cancel()
	<-b.done
	b.done <- nil // for the cleanup
	poll.Until(t, 10*time.Second, "host-a withdraws host-b's block", func() bool { return !hasRoute(t, a.ns, "10.65.2.0/26") })
}

// TestConfigurationIsPrivate: bird.cfg can hold BGP passwords taken from
// Secrets, so only root may read it: files 0600 in a 0700 directory, even
// when the directory existed with a laxer mode.
func TestConfigurationIsPrivate(t *testing.T) {
	netnstest.RequireBinaries(t, "bird")
	dir := filepath.Join(t.TempDir(), "confd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bird, _ := exec.LookPath("bird")
	d := New(Config{Binary: bird, ConfigDir: dir, RunDir: filepath.Join(t.TempDir(), "run")})
	in := input("node-a", []*host{{name: "node-a", ip: netip.MustParsePrefix("172.31.0.1/24")}, {name: "node-b", ip: netip.MustParsePrefix("172.31.0.2/24")}}, nil)
	cfg, err := bgp.Render(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("configuration directory: %v, %v; want 0700", st.Mode().Perm(), err)
	}
	for _, f := range []string{MainFile, bgp.IPv6File} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want 0600", f, st.Mode().Perm(), err)
		}
	}
}

// rawShowProtocols sends "show protocols" as upstream calicoctl does and
// returns the raw reply, up to its "0000" end.
func rawShowProtocols(t *testing.T, socket string) string {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("show protocols\n")); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "0000") {
			break
		}
	}
	return out.String()
}

// sameSession compares two reports of a session, but for when it last
// changed state.
func sameSession(a, b Session) bool {
	a.Since, b.Since = "", ""
	return a == b
}
