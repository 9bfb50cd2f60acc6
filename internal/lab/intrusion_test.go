package lab_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/poll"
)

// TestThreatFeedInTheLab: the lab's calico-intrusion-detection pulls a
// feed served from a local HTTP server into the GlobalNetworkSet
// threatfeed.<name>; a policy denying that set blocks a pod's traffic to
// a listed address that it reached before; a feed URL that stops
// answering is a status error while the set stays. The shipped alert
// templates are installed.
func TestThreatFeedInTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	netnstest.Require(t)
	netnstest.RequireBinaries(t, "bird", "iptables")
	cfg := newConfig(t)
	cfg.Nodes = 1
	var out strings.Builder
	if err := lab.Up(context.Background(), cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	bin, _ := labtest.BinDir()
	run := func(stdin, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+cfg.KubeconfigPath())
		cmd.Stdin = strings.NewReader(stdin)
		o, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, o)
		}
		return string(o)
	}
	// The shipped alert templates are installed.
	if out := run("", "kubectl", "get", "globalalerttemplates.projectcalico.org", "-o", "name"); !strings.Contains(out, "port-scan") ||
		!strings.Contains(out, "denied-to-namespace") || !strings.Contains(out, "policy-deleted") {
		t.Errorf("the lab's alert templates: %s", out)
	}
	// get reads a field of an object with kubectl's JSONPath.
	get := func(resource, name, path string) string {
		o, err := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", cfg.KubeconfigPath(), "get", resource, name, "-o", "jsonpath={"+path+"}").CombinedOutput()
		if err != nil {
			return ""
		}
		return string(o)
	}
	var mu sync.Mutex
	body, status := "# lab feed\n172.31.0.202\n", http.StatusOK
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	defer hs.Close()

	run(`apiVersion: v1
kind: Namespace
metadata: {name: tf}
---
apiVersion: v1
kind: Pod
metadata: {name: cli, namespace: tf, labels: {app: cli}}
spec:
  nodeName: node-1
  containers: [{name: cli, image: cli:1}]
`, "kubectl", "apply", "-f", "-")
	ctx := context.Background()
	poll.Until(t, 60*time.Second, "tf/cli to reach 172.31.0.202", func() bool {
		r, err := lab.Probe(ctx, cfg, "tf/cli", "172.31.0.202", 80, "tcp", time.Second)
		return err == nil && r.Connected
	})

	run(fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalThreatFeed
metadata: {name: lab-feed}
spec:
  globalNetworkSet: {labels: {threat: lab}}
  pull: {period: 5m, http: {url: '%s/feed.txt'}}
`, hs.URL), "calicoctl", "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "the feed's GlobalNetworkSet with its address", func() bool {
		return strings.Contains(get("globalnetworksets.projectcalico.org", "threatfeed.lab-feed", ".spec.nets"), "172.31.0.202/32")
	})
	if s := get("globalthreatfeeds.projectcalico.org", "lab-feed", ".status.lastSuccessfulSync"); s == "" {
		t.Error("the feed's status has no lastSuccessfulSync")
	}

	run(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-threats}
spec:
  order: 10
  selector: all()
  types: [Egress]
  egress:
  - action: Deny
    destination: {namespaceSelector: global(), selector: threat == 'lab'}
  - action: Allow
`, "calicoctl", "apply", "-f", "-")
	poll.Until(t, 30*time.Second, "the policy to deny tf/cli's traffic to the listed address", func() bool {
		r, err := lab.Probe(ctx, cfg, "tf/cli", "172.31.0.202", 80, "tcp", 500*time.Millisecond)
		return err == nil && !r.Connected
	})
	if r, err := lab.Probe(ctx, cfg, "tf/cli", "172.31.0.201", 80, "tcp", time.Second); err != nil || !r.Connected {
		t.Errorf("an address the feed does not list is denied too: %v %v", r, err)
	}

	// The feed fails: a status error; the set stays.
	mu.Lock()
	status = http.StatusServiceUnavailable
	mu.Unlock()
	run(fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalThreatFeed
metadata: {name: lab-feed}
spec:
  globalNetworkSet: {labels: {threat: lab}}
  pull: {period: 5m, http: {url: '%s/feed-v2.txt'}}
`, hs.URL), "calicoctl", "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "a status error for the failing feed", func() bool {
		return strings.Contains(get("globalthreatfeeds.projectcalico.org", "lab-feed", ".status.errorConditions[0].message"), "503")
	})
	if s := get("globalnetworksets.projectcalico.org", "threatfeed.lab-feed", ".spec.nets"); !strings.Contains(s, "172.31.0.202/32") {
		t.Errorf("the set after a failed pull: %s", s)
	}
}
