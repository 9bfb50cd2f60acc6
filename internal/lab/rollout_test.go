package lab_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/poll"
)

const rolloutPods = `apiVersion: v1
kind: Namespace
metadata: {name: roll}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: srv-from-client, namespace: roll}
spec:
  podSelector: {matchLabels: {app: srv}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: 8080}]
`

func rolloutPod(name, node string, labels string) string {
	return fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: roll, labels: {%s}}
spec:
  nodeName: %s
  containers: [{name: c, image: web:1, ports: [{containerPort: 8080}]}]
`, name, labels, node)
}

// TestRollingUpdateKeepsConnectionsAndPolicy rolls calico-node over both
// nodes as the DaemonSet's update does (`calico-lab rollout restart
// calico-node`: one node at a time, the next after the previous is
// ready), while a client holds HTTP keep-alive connections to a server on
// its own node and one on the other node, and a pod the policy denies
// keeps knocking on both. Every request on the held connections gets its
// answer without stalling (BIRD stops for a graceful restart, so no
// route goes missing), and nothing denied gets through.
func TestRollingUpdateKeepsConnectionsAndPolicy(t *testing.T) {
	cfg, _ := upWithNodes(t, 2)
	manifest := rolloutPods + rolloutPod("srv-a", "node-1", "app: srv") + rolloutPod("srv-b", "node-2", "app: srv") +
		rolloutPod("client", "node-1", "role: client") + rolloutPod("other", "node-2", "role: other")
	apply := exec.Command(filepath.Join(mustBin(t), "kubectl"), "--kubeconfig", cfg.KubeconfigPath(), "apply", "-f", "-")
	apply.Stdin = strings.NewReader(manifest)
	if o, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	ctx := context.Background()
	ip := map[string]string{}
	ns := map[string]string{}
	poll.Until(t, 60*time.Second, "the pods", func() bool {
		for _, p := range []string{"srv-a", "srv-b", "client", "other"} {
			o, _ := kubectl(t, cfg, "-n", "roll", "get", "pod", p, "-o", "jsonpath={.status.phase} {.status.podIP}")
			f := strings.Fields(o)
			if len(f) != 2 || f[0] != "Running" {
				return false
			}
			n, err := lab.Namespace(ctx, cfg, "roll/"+p)
			if err != nil {
				return false
			}
			ip[p], ns[p] = f[1], n
		}
		return true
	})
	connects := func(from, to string) bool {
		r, _ := probe.Connect(ns[from], "TCP", ip[to], 8080, 500*time.Millisecond)
		return r.Connected
	}
	poll.Until(t, 30*time.Second, "the policy in force", func() bool {
		return connects("client", "srv-a") && connects("client", "srv-b") && !connects("other", "srv-a") && !connects("other", "srv-b")
	})

	// Held connections: one HTTP/1.1 keep-alive connection per server,
	// a request every 50 ms on each.
	type held struct {
		to       string
		conn     net.Conn
		r        *bufio.Reader
		requests atomic.Int32
		broken   atomic.Bool // failures has its entry; the loop ended
		failures []string
		maxWait  time.Duration
	}
	var conns []*held
	for _, to := range []string{"srv-a", "srv-b"} {
		var c net.Conn
		if err := probe.InNamespace(ns["client"], func() (err error) {
			c, err = net.DialTimeout("tcp", net.JoinHostPort(ip[to], "8080"), 2*time.Second)
			return err
		}); err != nil {
			t.Fatalf("client → %s: %v", to, err)
		}
		defer c.Close()
		conns = append(conns, &held{to: to, conn: c, r: bufio.NewReader(c)})
	}
	request := func(h *held) error {
		start := time.Now()
		_ = h.conn.SetDeadline(start.Add(5 * time.Second))
		if _, err := fmt.Fprintf(h.conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", h.to); err != nil {
			return err
		}
		resp, err := http.ReadResponse(h.r, nil)
		if err != nil {
			return err
		}
		var body bytes.Buffer
		_, err = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if err == nil && strings.TrimSpace(body.String()) != h.to {
			err = fmt.Errorf("answered by %q", body.String())
		}
		h.maxWait = max(h.maxWait, time.Since(start))
		return err
	}
	for _, h := range conns {
		if err := request(h); err != nil {
			t.Fatalf("first request to %s: %v", h.to, err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, h := range conns {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				h.requests.Add(1)
				if err := request(h); err != nil {
					h.failures = append(h.failures, time.Now().Format("15:04:05.000")+" "+err.Error())
					h.broken.Store(true)
					return // the connection is gone
				}
			}
		})
	}
	var leaked, knocks atomic.Int32
	for _, to := range []string{"srv-a", "srv-b"} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				knocks.Add(1)
				if connects("other", to) {
					leaked.Add(1)
				}
			}
		})
	}

	// The rolling update, through the binary.
	start := time.Now()
	o, err := exec.Command(filepath.Join(mustBin(t), "calico-lab"), "--state-dir="+cfg.StateDir, "rollout", "restart", "calico-node").CombinedOutput()
	rollout := time.Since(start)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("rollout: %v\n%s", err, o)
	}
	// Traffic goes on until both nodes' new BIRDs have their sessions
	// back and the graceful restart is over (stale routes replaced).
	poll.Until(t, 60*time.Second, "BGP sessions re-established", func() bool {
		for _, node := range []string{"node-1", "node-2"} {
			st, _ := exec.Command(filepath.Join(mustBin(t), "calico-lab"), "--state-dir="+cfg.StateDir, "exec", node, "--", "calicoctl", "node", "status").CombinedOutput()
			if !strings.Contains(string(st), "Established") {
				return false
			}
		}
		return true
	})
	var settled []int32
	for _, h := range conns {
		settled = append(settled, h.requests.Load())
	}
	poll.Until(t, 10*time.Second, "20 more requests on each held connection", func() bool {
		for i, h := range conns {
			if h.requests.Load() < settled[i]+20 && !h.broken.Load() {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()
	if !strings.Contains(string(o), "node-1 (1/2): calico-node restarted") || !strings.Contains(string(o), "node-2 (2/2): calico-node restarted") {
		t.Errorf("rollout output:\n%s", o)
	}
	for _, node := range []string{"node-1", "node-2"} {
		logs, _ := exec.Command(filepath.Join(mustBin(t), "calico-lab"), "--state-dir="+cfg.StateDir, "logs", "calico-node", "--node", node).CombinedOutput()
		if n := strings.Count(string(logs), "CNI token refreshed"); n < 2 {
			t.Errorf("%s: %d calico-node starts refreshed the CNI token, want 2 (before and after the rollout)", node, n)
		}
	}
	for _, h := range conns {
		if len(h.failures) > 0 {
			t.Errorf("the held connection to %s broke after %d requests: %v", h.to, h.requests.Load(), h.failures)
		}
		// A stall this long means routes went missing for a while (the
		// sessions take about 2 s to come back).
		if h.maxWait > time.Second {
			t.Errorf("a request to %s waited %v for its answer during the rollout", h.to, h.maxWait.Round(time.Millisecond))
		}
		t.Logf("held connection to %s: %d requests during the rollout and BGP's recovery, slowest answer %v", h.to, h.requests.Load(), h.maxWait.Round(time.Millisecond))
	}
	if leaked.Load() > 0 {
		t.Errorf("%d of %d denied connection attempts got through during the rollout", leaked.Load(), knocks.Load())
	}
	t.Logf("rollout of 2 nodes took %v; %d denied attempts, none through:\n%s", rollout.Round(100*time.Millisecond), knocks.Load(), o)
	// And after it, policy is still what it was.
	if !connects("client", "srv-b") || connects("other", "srv-a") {
		t.Error("after the rollout, the policy no longer holds")
	}
}

func mustBin(t *testing.T) string {
	t.Helper()
	bin, err := labtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
