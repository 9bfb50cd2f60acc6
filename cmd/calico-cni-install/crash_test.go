package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calicong/calico/internal/cniinstall"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/netnstest"
)

const template = `{"name": "k8s-pod-network", "cniVersion": "1.1.0", "plugins": [{"type": "calico", "nodename": "__KUBERNETES_NODE_NAME__",
 "mtu": __CNI_MTU__, "ipam": {"type": "calico-ipam"}, "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__"}}]}`

// TestKilledAnywhere kills calico-cni-install at random moments while it
// installs the real (20+ MB) plugins, and checks after every kill that no
// file is partial: each is absent or complete, and the configuration
// never appears before the plugins and kubeconfig it names. A run after
// the kills completes the installation and removes the leftovers.
func TestKilledAnywhere(t *testing.T) {
	bin, err := labtest.BinDir()
	if err != nil {
		netnstest.Missing(t, "%v", err)
	}
	sa := t.TempDir()
	for n, v := range map[string]string{"token": "tok\n", "ca.crt": "CA"} {
		if err := os.WriteFile(filepath.Join(sa, n), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	env := append(os.Environ(), "CNI_NETWORK_CONFIG="+template, "KUBERNETES_NODE_NAME=node-1",
		"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443")
	install := func() *exec.Cmd {
		c := exec.Command(filepath.Join(bin, "calico-cni-install"), "--root", root, "--source-dir", bin, "--serviceaccount-dir", sa)
		c.Env = env
		return c
	}
	want := map[string][]byte{}
	for _, p := range cniinstall.Plugins {
		b, err := os.ReadFile(filepath.Join(bin, p))
		if err != nil {
			t.Fatal(err)
		}
		want[filepath.Join("opt/cni/bin", p)] = b
	}
	check := func(i int) (complete bool) {
		t.Helper()
		for rel, w := range want {
			got, err := os.ReadFile(filepath.Join(root, rel))
			if err == nil && !bytes.Equal(got, w) {
				t.Fatalf("kill %d: %s is partial (%d of %d bytes)", i, rel, len(got), len(w))
			}
		}
		conf, err := os.ReadFile(filepath.Join(root, "etc/cni/net.d/10-calico.conflist"))
		if err != nil {
			return false
		}
		if !strings.Contains(string(conf), `"nodename": "node-1"`) || !strings.HasSuffix(string(conf), "}\n") {
			t.Fatalf("kill %d: partial configuration:\n%s", i, conf)
		}
		for rel := range want {
			if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
				t.Fatalf("kill %d: the configuration is there before %s", i, rel)
			}
		}
		if _, err := os.Stat(filepath.Join(root, "etc/cni/net.d", cniinstall.KubeconfigName)); err != nil {
			t.Fatalf("kill %d: the configuration is there before the kubeconfig", i)
		}
		return true
	}
	kills := 0
	for i := 0; i < 40; i++ {
		// Start afresh now and then, so kills land in every phase.
		if i%8 == 0 {
			os.RemoveAll(root)
		}
		c := install()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond) // the kill's moment, not synchronisation
		if c.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		_ = c.Wait()
		check(i)
	}
	out, err := install().CombinedOutput()
	if err != nil {
		t.Fatalf("the run after the kills: %v\n%s", err, out)
	}
	if !check(-1) {
		t.Fatal("the run after the kills did not complete the installation")
	}
	for _, d := range []string{"opt/cni/bin", "etc/cni/net.d"} {
		entries, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("a leftover temporary file: %s/%s", d, e.Name())
			}
		}
	}
	t.Logf("%d kills", kills)
}

func TestConfigErrors(t *testing.T) {
	sa := t.TempDir()
	env := func(kv ...string) func(string) string {
		m := map[string]string{"KUBERNETES_NODE_NAME": "n", "KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "443", "CNI_NETWORK_CONFIG": template}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"KUBERNETES_NODE_NAME", ""}, "KUBERNETES_NODE_NAME"},
		{[]string{"CNI_MTU", "big"}, "CNI_MTU"},
		{[]string{"KUBERNETES_SERVICE_HOST", ""}, "run in a pod"},
		{nil, "service-account token"},
	} {
		if err := run(t.TempDir(), t.TempDir(), sa, env(tc.env...)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}
