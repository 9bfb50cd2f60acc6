package cniinstall

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const template = `{"name": "k8s-pod-network", "cniVersion": "1.1.0", "plugins": [{"type": "calico", "nodename": "__KUBERNETES_NODE_NAME__",
 "mtu": __CNI_MTU__, "ipam": {"type": "calico-ipam"}, "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__"}}]}`

func setup(t *testing.T) Config {
	t.Helper()
	src := t.TempDir()
	for _, p := range Plugins {
		if err := os.WriteFile(filepath.Join(src, p), []byte("#!/bin/sh\necho "+p+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Config{Root: t.TempDir(), SourceBinDir: src, Template: template, NodeName: "node-1", MTU: 1440, Kubeconfig: Kubeconfig("https://10.96.0.1:443", []byte("CA"), "tok")}
}

func TestInstallTwice(t *testing.T) {
	c := setup(t)
	r, err := Install(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Written) != 4 || len(r.Unchanged) != 0 {
		t.Fatalf("first run: %+v", r)
	}
	want := map[string]os.FileMode{
		"opt/cni/bin/calico": 0o755, "opt/cni/bin/calico-ipam": 0o755,
		"etc/cni/net.d/calico-kubeconfig": 0o600, "etc/cni/net.d/10-calico.conflist": 0o644,
	}
	for p, mode := range want {
		st, err := os.Stat(filepath.Join(c.Root, p))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v, want %v", p, err, st.Mode().Perm(), mode)
		}
	}
	conf, _ := os.ReadFile(filepath.Join(c.Root, "etc/cni/net.d/10-calico.conflist"))
	for _, s := range []string{`"nodename": "node-1"`, `"mtu": 1440`, `"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"`} {
		if !strings.Contains(string(conf), s) {
			t.Errorf("configuration lacks %s:\n%s", s, conf)
		}
	}
	r, err = Install(c)
	if err != nil || len(r.Written) != 0 || len(r.Unchanged) != 4 {
		t.Fatalf("second run changed something: %+v %v", r, err)
	}
	// A changed MTU rewrites the configuration alone.
	c.MTU = 1400
	if r, err = Install(c); err != nil || len(r.Written) != 1 || !strings.HasSuffix(r.Written[0], "10-calico.conflist") {
		t.Fatalf("after an MTU change: %+v %v", r, err)
	}
}

func TestBadTemplateWritesNothing(t *testing.T) {
	for tmpl, want := range map[string]string{
		"":                           "is empty",
		`{"name": "x", "plugins": [`: "not a CNI configuration list",
		`{"name": "x", "cniVersion": "1.1.0", "plugins": [{"type": "bridge"}]}`: "no plugin of type calico",
	} {
		c := setup(t)
		c.Template = tmpl
		if _, err := Install(c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("template %q: %v, want %q", tmpl, err, want)
		}
		if entries, _ := os.ReadDir(c.Root); len(entries) != 0 {
			t.Errorf("template %q: something was written", tmpl)
		}
	}
}
