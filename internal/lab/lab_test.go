package lab_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/pki"
	"github.com/calicong/calico/internal/poll"
)

func newConfig(t *testing.T) lab.Config { return labtest.NewConfig(t) }

type statusFile = labtest.Status

func ReadStatus(t *testing.T, cfg lab.Config) statusFile { return labtest.ReadStatus(t, cfg) }

func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && len(data) > 0
}

func kubectl(t *testing.T, cfg lab.Config, args ...string) (string, error) {
	t.Helper()
	bin, _ := labtest.BinDir()
	return run(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", cfg.KubeconfigPath()}, args...)...)
}

// waitFor polls cond every 100ms until it holds or the deadline passes.

func TestUpDownCycles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	cfg := newConfig(t)
	ctx := context.Background()
	for cycle := range 2 {
		var out bytes.Buffer
		start := time.Now()
		if err := lab.Up(ctx, cfg, &out); err != nil {
			t.Fatalf("cycle %d: up: %v\n%s", cycle, err, out.String())
		}
		took := time.Since(start)
		t.Logf("cycle %d: up in %v", cycle, took)
		if took > 20*time.Second {
			t.Errorf("cycle %d: warm start took %v, want at most 20s", cycle, took)
		}

		got, err := kubectl(t, cfg, "get", "tiers", "-o", "name")
		if err != nil {
			t.Fatalf("kubectl get tiers: %v\n%s", err, got)
		}
		for _, tier := range []string{"default", "kube-admin", "kube-baseline"} {
			if !strings.Contains(got, "tier.projectcalico.org/"+tier) {
				t.Errorf("built-in tier %s missing from %q", tier, got)
			}
		}
		if got, err := kubectl(t, cfg, "delete", "tier", "kube-admin"); err == nil || !strings.Contains(got, "cannot be deleted") {
			t.Errorf("deleting a built-in tier: err=%v output=%q; want refusal", err, got)
		}

		if cycle == 0 {
			checkAuditLog(t, cfg)
		}

		// A second up changes nothing.
		st := ReadStatus(t, cfg)
		out.Reset()
		if err := lab.Up(ctx, cfg, &out); err != nil {
			t.Fatalf("second up: %v", err)
		}
		if !strings.Contains(out.String(), "already up") {
			t.Errorf("second up said %q, want it to say the lab is already up", out.String())
		}
		if again := ReadStatus(t, cfg); again.SupervisorPID != st.SupervisorPID {
			t.Errorf("second up replaced the supervisor (%d → %d)", st.SupervisorPID, again.SupervisorPID)
		}

		var status bytes.Buffer
		if err := lab.PrintStatus(ctx, cfg, &status, ""); err != nil {
			t.Errorf("status: %v\n%s", err, status.String())
		}
		for _, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
			if !strings.Contains(status.String(), c) {
				t.Errorf("status does not mention %s:\n%s", c, status.String())
			}
		}

		if err := lab.Down(ctx, cfg, &out); err != nil {
			t.Fatalf("down: %v", err)
		}
		for _, pid := range append([]int{st.SupervisorPID}, pids(st)...) {
			if alive(pid) {
				t.Errorf("process %d still running after down", pid)
			}
		}
		if _, err := os.Stat(cfg.StateDir); !os.IsNotExist(err) {
			t.Errorf("state directory still exists after down: %v", err)
		}
		if err := lab.PrintStatus(ctx, cfg, &out, ""); err != lab.ErrNotUp {
			t.Errorf("status after down: %v, want ErrNotUp", err)
		}
	}
}

func pids(st statusFile) []int {
	var out []int
	for _, c := range st.Components {
		if c.PID != 0 {
			out = append(out, c.PID)
		}
	}
	return out
}

func TestPortInUseIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs built binaries")
	}
	cfg := newConfig(t)
	l, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.APIServerPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	err = lab.Up(context.Background(), cfg, &bytes.Buffer{})
	if err == nil {
		t.Fatal("up succeeded although the API server port is taken")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusal took %v; it should be immediate", took)
	}
	want := "port " + strconv.Itoa(cfg.APIServerPort)
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "kube-apiserver") {
		t.Errorf("error %q does not name %s and kube-apiserver", err, want)
	}
	if _, statErr := os.Stat(filepath.Join(cfg.StateDir, "supervisor.pid")); !os.IsNotExist(statErr) {
		t.Errorf("a refused up left a supervisor behind")
	}
}

func TestSupervisorRestartsAndCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	cfg := newConfig(t)
	ctx := context.Background()
	if err := lab.Up(ctx, cfg, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	st := ReadStatus(t, cfg)
	var sched int
	for _, c := range st.Components {
		if c.Name == "kube-scheduler" {
			sched = c.PID
		}
	}
	if sched == 0 {
		t.Fatal("no scheduler PID in status")
	}
	if err := syscall.Kill(sched, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 60*time.Second, "the scheduler to be restarted", func() bool {
		for _, c := range ReadStatus(t, cfg).Components {
			if c.Name == "kube-scheduler" {
				return c.State == "running" && c.Restarts == 1 && c.PID != sched && alive(c.PID)
			}
		}
		return false
	})

	// Killing the supervisor outright takes its components with it, and
	// down still cleans up.
	st = ReadStatus(t, cfg)
	if err := syscall.Kill(st.SupervisorPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "components to exit with the supervisor", func() bool {
		for _, pid := range pids(st) {
			if alive(pid) {
				return false
			}
		}
		return true
	})
	var out bytes.Buffer
	if err := lab.Down(ctx, cfg, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.StateDir); !os.IsNotExist(err) {
		t.Errorf("state directory still exists after down")
	}
}

// checkAuditLog writes a Calico resource and expects the API server's audit
// log to record the write with its request body.
func checkAuditLog(t *testing.T, cfg lab.Config) {
	t.Helper()
	manifest := filepath.Join(t.TempDir(), "gns.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: audited}\nspec: {nets: [192.0.2.0/24]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl(t, cfg, "create", "-f", manifest); err != nil {
		t.Fatalf("kubectl create: %v\n%s", err, out)
	}
	path := filepath.Join(cfg.StateDir, "audit", "audit.log")
	poll.Until(t, 10*time.Second, "the audit event", func() bool {
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		for _, line := range strings.Split(string(data), "\n") {
			var ev struct {
				Verb      string `json:"verb"`
				Level     string `json:"level"`
				ObjectRef struct {
					APIGroup string `json:"apiGroup"`
					Resource string `json:"resource"`
					Name     string `json:"name"`
				} `json:"objectRef"`
				RequestObject map[string]any `json:"requestObject"`
			}
			if jsonUnmarshal([]byte(line), &ev) != nil {
				continue
			}
			if ev.Verb == "create" && ev.ObjectRef.APIGroup == "projectcalico.org" && ev.ObjectRef.Resource == "globalnetworksets" &&
				ev.Level == "RequestResponse" && ev.RequestObject != nil {
				return true
			}
		}
		return false
	})
}

// A bring-up that runs out of time says which component it was waiting
// for and why that component's health check failed.
func TestUpTimeoutNamesTheComponent(t *testing.T) {
	if testing.Short() {
		t.Skip("needs built binaries")
	}
	cfg := newConfig(t)
	// A serving certificate of a CA the lab does not trust:
	// kube-apiserver runs, but its health check never passes.
	ca, _, err := pki.NewAuthority("not the lab's CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue(pki.Request{CommonName: "kube-apiserver", IPs: []net.IP{net.ParseIP(cfg.Host)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.ExtraAPIServerArgs = []string{"--tls-cert-file=" + certFile, "--tls-private-key-file=" + keyFile}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = lab.Up(ctx, cfg, &bytes.Buffer{})
	t.Cleanup(func() { _ = lab.Down(context.Background(), cfg, io.Discard) })
	if err == nil {
		t.Fatal("up succeeded with kube-apiserver pointed at no etcd")
	}
	for _, want := range []string{"not ready in time", "kube-apiserver: starting for", "last health check:", "/readyz", "certificate", "Last lines of"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "etcd: ") {
		t.Errorf("error lists etcd, which was ready:\n%v", err)
	}
}
