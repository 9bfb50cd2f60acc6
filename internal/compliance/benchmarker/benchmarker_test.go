package benchmarker

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/compliance/cis"
	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/linseedtest"
)

// A test binary started as "kube-scheduler ..." waits for its stdin to
// close: a real process for the benchmarker to find in /proc.
func TestMain(m *testing.M) {
	if os.Getenv("BENCHMARKER_TEST_PROCESS") == "1" {
		_, _ = os.Stdin.Read(make([]byte, 1))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchmarker runs the shipped benchmark on a node made of real
// files and a real process, and writes the results to a real Linseed:
// a scheduler with profiling on fails 1.4.1, a kubelet config file
// with mode 644 fails 4.1.9 and passes once it is 600, and sections
// whose component is absent do not run.
func TestBenchmarker(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	filter := "calico-bench-test-" + filepath.Base(root)
	cmd := exec.Command(os.Args[0])
	cmd.Args = []string{"kube-scheduler", "--profiling=true", "--bind-address=127.0.0.1", "--kubeconfig=/" + filter}
	cmd.Env = append(os.Environ(), "BENCHMARKER_TEST_PROCESS=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })

	kubelet := filepath.Join(root, "var/lib/kubelet/config.yaml")
	if err := os.MkdirAll(filepath.Dir(kubelet), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubelet, []byte("authentication:\n  anonymous:\n    enabled: false\nreadOnlyPort: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := cis.Latest()
	if err != nil {
		t.Fatal(err)
	}
	ls := linseedtest.New(t)
	bm := &Benchmarker{Node: "node-1", Benchmark: b, Linseed: ls,
		Host:              &NodeHost{Root: root, Proc: "/proc", CmdlineFilter: filter},
		KubernetesVersion: func(context.Context) (string, error) { return "v1.36.0", nil }}
	byID := func(r *cis.Result) map[string]cis.Test {
		m := map[string]cis.Test{}
		for _, t := range r.Tests {
			m[t.TestNumber] = t
		}
		return m
	}
	r, err := bm.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := byID(r)
	if s := got["1.4.1"]; s.Status != cis.Fail || !strings.Contains(s.TestInfo, `--profiling is "true"; want "false"`) {
		t.Errorf("1.4.1 (scheduler profiling): %+v", s)
	}
	if s := got["1.4.2"]; s.Status != cis.Pass {
		t.Errorf("1.4.2 (scheduler bind address): %+v", s)
	}
	if s := got["4.1.9"]; s.Status != cis.Fail || !strings.Contains(s.TestInfo, "/var/lib/kubelet/config.yaml has mode 644") {
		t.Errorf("4.1.9 (kubelet config mode): %+v", s)
	}
	if s := got["4.2.1"]; s.Status != cis.Pass {
		t.Errorf("4.2.1 (kubelet anonymous auth from its config file): %+v", s)
	}
	for id := range got {
		if strings.HasPrefix(id, "1.2.") || strings.HasPrefix(id, "2.") {
			t.Fatalf("%s ran, but no API server or etcd runs here", id)
		}
	}

	if err := os.Chmod(kubelet, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err = bm.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := byID(r)["4.1.9"]; s.Status != cis.Pass {
		t.Errorf("4.1.9 after chmod 600: %+v", s)
	}

	// Linseed holds both runs, newest first, with the node and versions.
	var page api.List
	if err := ls.Post(ctx, "/compliance/benchmarks", api.Params{TimeRange: &api.TimeRange{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Minute)}}, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 {
		t.Fatalf("Linseed holds %d runs, want 2", len(page.Items))
	}
	var back cis.Result
	if err := json.Unmarshal(page.Items[0], &back); err != nil {
		t.Fatal(err)
	}
	if back.NodeName != "node-1" || back.Version != "1.9" || back.KubernetesVersion != "v1.36.0" || byID(&back)["4.1.9"].Status != cis.Pass {
		t.Errorf("the newest run read back: %s %s %s %+v", back.NodeName, back.Version, back.KubernetesVersion, byID(&back)["4.1.9"])
	}
}
