package lab_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/noderuntime"
	"github.com/calicong/calico/internal/lab/probe"
)

// BenchmarkLab brings up a 3-node lab and reports:
//   - pods-ready-s: from creating a 450-replica Deployment (150 pods per
//     node) to every pod Running and Ready;
//   - lab-rss-MB: the resident memory of every process of the lab then
//     (control plane, node agents, calico-node, BIRD, kube-proxy);
//   - policy-p50-ms, policy-p99-ms: with 300 pods running, from `kubectl
//     apply` of a policy denying a pod's ingress to the first probe (from
//     a pod on another node) that fails, over 20 trials.
func BenchmarkLab(b *testing.B) {
	netnstest.Require(b)
	netnstest.RequireBinaries(b, "bird")
	for b.Loop() {
		cfg, err := labtest.Config(filepath.Join(b.TempDir(), "lab"))
		if err != nil {
			b.Fatal(err)
		}
		cfg.Nodes = 3
		b.Cleanup(func() { _ = lab.Down(context.Background(), cfg, &bytes.Buffer{}) })
		var out bytes.Buffer
		if err := lab.Up(context.Background(), cfg, &out); err != nil {
			b.Fatalf("%v\n%s", err, out.String())
		}
		bin, _ := labtest.BinDir()
		kubectl := func(stdin string, args ...string) {
			cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", cfg.KubeconfigPath()}, args...)...)
			cmd.Stdin = strings.NewReader(stdin)
			if o, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("kubectl %v: %v\n%s", args, err, o)
			}
		}
		rc, _ := datastore.LoadConfig(cfg.KubeconfigPath())
		client, err := datastore.New(rc)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		running := func(want int) time.Duration {
			start := time.Now()
			for {
				pods, err := client.Kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
				n := 0
				if err == nil {
					for _, p := range pods.Items {
						if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && ready(&p) {
							n++
						}
					}
				}
				if n == want && len(pods.Items) == want {
					return time.Since(start)
				}
				if time.Since(start) > 5*time.Minute {
					b.Fatalf("%d of %d pods ready after 5 minutes", n, want)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		start := time.Now()
		kubectl("", "create", "deployment", "scale", "--image=x", "--replicas=450", "--port=8080")
		running(450)
		b.ReportMetric(time.Since(start).Seconds(), "pods-ready-s")
		b.ReportMetric(labRSS(b, cfg), "lab-rss-MB")

		kubectl("", "scale", "deployment", "scale", "--replicas=300")
		running(300)
		pods, err := client.Kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		// A client and a server on different nodes.
		client0, server := pods.Items[0], pods.Items[0]
		for _, p := range pods.Items {
			if p.Spec.NodeName != client0.Spec.NodeName {
				server = p
				break
			}
		}
		kubectl("", "label", "pod", server.Name, "bench=target")
		clientNS := podNamespace(b, cfg, &client0)
		policy := "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bench-deny, namespace: default}\n" +
			"spec:\n  podSelector: {matchLabels: {bench: target}}\n  policyTypes: [Ingress]\n"
		reachable := func() bool {
			r, _ := probe.Connect(clientNS, "TCP", server.Status.PodIP, 8080, 300*time.Millisecond)
			return r.Connected
		}
		waitFor := func(want bool) time.Time {
			deadline := time.Now().Add(30 * time.Second)
			for {
				at := time.Now()
				if reachable() == want {
					return at
				}
				if time.Now().After(deadline) {
					b.Fatalf("the probe never became %v", want)
				}
			}
		}
		waitFor(true)
		var lat []time.Duration
		for range 20 {
			start := time.Now()
			kubectl(policy, "apply", "-f", "-")
			lat = append(lat, waitFor(false).Sub(start))
			kubectl("", "delete", "networkpolicy", "bench-deny")
			waitFor(true)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "policy-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "policy-p99-ms")
		_ = lab.Down(ctx, cfg, &bytes.Buffer{})
	}
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podNamespace finds a pod's network namespace (named after its UID).
func podNamespace(b testing.TB, cfg lab.Config, p *corev1.Pod) string {
	role := noderuntime.SandboxRole(p.UID)
	entries, _ := os.ReadDir("/var/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), lab.NamespacePrefix) && strings.HasSuffix(e.Name(), "-"+role) {
			return e.Name()
		}
	}
	b.Fatalf("no namespace for pod %s", p.Name)
	return ""
}

// labRSS sums the resident memory of the lab's supervisor and every
// process under it, in MB.
func labRSS(b *testing.B, cfg lab.Config) float64 {
	data, err := os.ReadFile(filepath.Join(cfg.StateDir, "supervisor.pid"))
	if err != nil {
		b.Fatal(err)
	}
	root, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	parent := map[int]int{}
	rss := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := os.Open(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			k, v, _ := strings.Cut(s.Text(), ":")
			fs := strings.Fields(v)
			switch {
			case k == "PPid" && len(fs) > 0:
				parent[pid], _ = strconv.Atoi(fs[0])
			case k == "VmRSS" && len(fs) > 0:
				rss[pid], _ = strconv.Atoi(fs[0])
			}
		}
		f.Close()
	}
	total := 0
	for pid, kb := range rss {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				total += kb
				break
			}
		}
	}
	return float64(total) / 1024
}
