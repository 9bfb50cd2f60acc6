package bgp

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab/netnstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func node(name, v4, v6 string, labels map[string]string, mut ...func(*v3.NodeBGPSpec)) *v3.Node {
	n := &v3.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: v3.NodeSpec{BGP: &v3.NodeBGPSpec{IPv4Address: v4, IPv6Address: v6}}}
	for _, f := range mut {
		f(n.Spec.BGP)
	}
	return n
}

func nodes(ns ...*v3.Node) map[string]*v3.Node {
	out := map[string]*v3.Node{}
	for _, n := range ns {
		out[n.Name] = n
	}
	return out
}

func pool(name, cidr string, mut ...func(*v3.IPPoolSpec)) *v3.IPPool {
	p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.IPPoolSpec{CIDR: cidr}}
	for _, f := range mut {
		f(&p.Spec)
	}
	return p
}

func peer(name string, spec v3.BGPPeerSpec) *v3.BGPPeer {
	return &v3.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// birdCheck runs BIRD's own parser over a configuration, as confd does
// before installing one.
func birdCheck(t *testing.T, c *Config) {
	t.Helper()
	netnstest.RequireBinaries(t, "bird")
	bird, _ := exec.LookPath("bird")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bird.cfg"), []byte(c.Main), 0o644); err != nil {
		t.Fatal(err)
	}
	if c.IPv6 != "" {
		if err := os.WriteFile(filepath.Join(dir, IPv6File), []byte(c.IPv6), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bird, "-p", "-c", "bird.cfg")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bird -p rejects the configuration: %v\n%s\n--- bird.cfg\n%s\n--- bird6.cfg\n%s", err, out, numbered(c.Main), numbered(c.IPv6))
	}
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}

func golden(t *testing.T, name string, c *Config) {
	t.Helper()
	got := c.Main
	if c.IPv6 != "" {
		got += "\n#### " + IPv6File + "\n" + c.IPv6
	}
	path := filepath.Join("testdata", name+".cfg")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file %s (go test -update rewrites it):\n%s", name, path, got)
	}
}
