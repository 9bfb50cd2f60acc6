package lab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/poll"
)

// TestThreatFeedInTheLab: the lab's calico-intrusion-detection pulls a
// feed served from a local HTTP server into the GlobalNetworkSet
// threatfeed.<name>; a pod's connection to a listed address is one
// security event, naming the pod and the feed, and a lookup of a listed
// domain another; a policy denying that set blocks a pod's traffic to
// a listed address that it reached before; a GlobalAlert on the denied
// flows fires for the namespace above its threshold only, and an
// AlertException silences a second one; a Generic webhook gets every
// event once, also across a restart of intrusion detection; a feed URL
// that stops answering is a status error while the set stays. The
// shipped alert templates are installed.
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
	run := labtest.Runner(t, cfg)
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
	calicoLab := func(args ...string) string {
		return run("", "calico-lab", append([]string{"--state-dir=" + cfg.StateDir}, args...)...)
	}
	u := newLinseedUser(t, calicoLab("env"))
	// Allowed flows keep their addresses (level 1), so the feed's IPs
	// are matched in them.
	run("apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\n"+
		"spec: {flowLogsFileAggregationKindForAllowed: 1}\n", "calicoctl", "apply", "-f", "-")
	poll.Until(t, 40*time.Second, "calico-node to restart with the new configuration", func() bool {
		return strings.Count(calicoLab("logs", "calico-node", "--node", "node-1"), "collecting flow logs") >= 2
	})

	// A Generic webhook's receiver: every delivery, by event ID.
	var hookMu sync.Mutex
	delivered := map[string]int{}
	var deliveredTypes []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.ID == "" || r.Header.Get("X-Calico-Event-Id") != ev.ID {
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		hookMu.Lock()
		defer hookMu.Unlock()
		delivered[ev.ID]++
		deliveredTypes = append(deliveredTypes, ev.Type)
	}))
	defer hook.Close()
	run(fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: SecurityEventWebhook
metadata: {name: lab-hook}
spec:
  consumer: Generic
  state: Enabled
  config: [{name: url, value: '%s/events'}]
`, hook.URL), "calicoctl", "apply", "-f", "-")

	var mu sync.Mutex
	body, status := "# lab feed\n172.31.0.202\n172.31.0.203\n", http.StatusOK
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/domains.txt" {
			fmt.Fprint(w, "sub.example.test\n")
			return
		}
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
---
apiVersion: v1
kind: Namespace
metadata: {name: tf2}
---
apiVersion: v1
kind: Pod
metadata: {name: cli, namespace: tf2, labels: {app: cli}}
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

	// One connection to a listed address: one event, naming the pod and
	// the feed; it stays one through later searches (which read the
	// same records again) and the node's next flushes.
	if r, err := lab.Probe(ctx, cfg, "tf/cli", "172.31.0.203", 80, "tcp", time.Second); err != nil || !r.Connected {
		t.Fatalf("tf/cli to 172.31.0.203: %v %v", r, err)
	}
	flowSel := `{"selector":"type = \"gtf_suspicious_flow\" AND dest_ip = \"172.31.0.203\""}`
	poll.Until(t, 90*time.Second, "an event for tf/cli's connection to 172.31.0.203", func() bool {
		return u.count("/events/count", flowSel) > 0
	})
	found := time.Now()
	var ev struct {
		Origin, SourceNamespace, SourceName, Description string
	}
	_, page := u.post("/events", flowSel)
	if items, _ := page["items"].([]any); len(items) == 1 {
		m := items[0].(map[string]any)
		ev.Origin, _ = m["origin"].(string)
		ev.SourceNamespace, _ = m["source_namespace"].(string)
		ev.SourceName, _ = m["source_name"].(string)
		ev.Description, _ = m["description"].(string)
	}
	if ev.Origin != "lab-feed" || ev.SourceNamespace != "tf" || ev.SourceName != "cli" {
		t.Errorf("the connection's event: %+v (page %v)", ev, page)
	}
	t.Logf("event: %s", ev.Description)
	// Domains: a lookup of a name under a listed domain.
	run(fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalThreatFeed
metadata: {name: lab-domains}
spec:
  content: DomainNameSet
  pull: {period: 5m, http: {url: '%s/domains.txt'}}
`, hs.URL), "calicoctl", "apply", "-f", "-")
	poll.Until(t, 30*time.Second, "the domain feed to be pulled", func() bool {
		return get("globalthreatfeeds.projectcalico.org", "lab-domains", ".status.lastSuccessfulSync") != ""
	})
	if r, err := lab.Probe(ctx, cfg, "tf/cli", "h7.sub.example.test", 80, "tcp", time.Second); err != nil || r.Resolved == "" {
		t.Fatalf("tf/cli looking up h7.sub.example.test: %v %v", r, err)
	}
	dnsSel := `{"selector":"type = \"gtf_suspicious_dns_query\" AND source_namespace = \"tf\" AND origin = \"lab-domains\""}`
	poll.Until(t, 90*time.Second, "an event for tf/cli's lookup of h7.sub.example.test", func() bool {
		return u.count("/events/count", dnsSel) > 0
	})
	// Searches well past the node's next flush: still one event for the
	// connection.
	poll.Until(t, 90*time.Second, "searches 25s after the first event", func() bool {
		ts, err := time.Parse(time.RFC3339, get("globalthreatfeeds.projectcalico.org", "lab-feed", ".status.lastSuccessfulSearch"))
		return err == nil && ts.After(found.Add(25*time.Second))
	})
	if n := u.count("/events/count", flowSel); n != 1 {
		t.Errorf("%d events for one connection, want 1", n)
		for _, r := range u.all("/flows/logs", `{"selector":"dest_ip = \"172.31.0.203\""}`, 100) {
			t.Logf("flow record: %s", r)
		}
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

	// Denied flows: tf/cli to four ports of the listed address, tf2/cli
	// to one. A rule on denied flows by source namespace, above 2, fires
	// for tf only; the same rule under an exception for tf, not at all.
	for _, port := range []int{80, 8080, 81, 82} {
		if _, err := lab.Probe(ctx, cfg, "tf/cli", "172.31.0.202", port, "tcp", 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 30*time.Second, "tf2/cli to try 172.31.0.202", func() bool {
		_, err := lab.Probe(ctx, cfg, "tf2/cli", "172.31.0.202", 80, "tcp", 300*time.Millisecond)
		return err == nil
	})
	poll.Until(t, 60*time.Second, "Linseed to hold the denied flows", func() bool {
		return u.count("/flows/logs/count", `{"selector":"action = \"deny\" AND source_namespace = \"tf\" AND dest_ip = \"172.31.0.202\""}`) >= 4 &&
			u.count("/flows/logs/count", `{"selector":"action = \"deny\" AND source_namespace = \"tf2\""}`) >= 1
	})
	alert := func(name string) string {
		return fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalAlert
metadata: {name: %s}
spec:
  description: "${count} denied flows from ${source_namespace}"
  severity: 60
  dataSet: flows
  query: action = "deny" AND source_namespace IN {"tf", "tf2"}
  aggregateBy: [source_namespace]
  metric: count
  condition: gt
  threshold: 2
  period: 1h
  lookback: 10m
`, name)
	}
	run(alert("denied-by-ns"), "calicoctl", "apply", "-f", "-")
	poll.Until(t, 30*time.Second, "the rule to run", func() bool {
		return get("globalalerts.projectcalico.org", "denied-by-ns", ".status.lastExecuted") != ""
	})
	if h := get("globalalerts.projectcalico.org", "denied-by-ns", ".status.healthy"); h != "true" {
		t.Errorf("the rule's status: healthy %q, errors %q", h, get("globalalerts.projectcalico.org", "denied-by-ns", ".status.errorConditions"))
	}
	if n := u.count("/events/count", `{"selector":"origin = \"denied-by-ns\" AND source_namespace = \"tf\""}`); n != 1 {
		t.Errorf("%d events for tf (4 denied flows, threshold 2), want 1", n)
	}
	if n := u.count("/events/count", `{"selector":"origin = \"denied-by-ns\" AND source_namespace = \"tf2\""}`); n != 0 {
		t.Errorf("%d events for tf2 (1 denied flow, threshold 2), want 0", n)
	}
	run(fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: AlertException
metadata: {name: tf-is-known}
spec:
  description: tf is a test namespace
  selector: origin = "denied-by-ns-2" AND source_namespace = "tf"
  startTime: %s
`, time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)), "calicoctl", "apply", "-f", "-")
	run(alert("denied-by-ns-2"), "calicoctl", "apply", "-f", "-")
	poll.Until(t, 30*time.Second, "the second rule to run", func() bool {
		return get("globalalerts.projectcalico.org", "denied-by-ns-2", ".status.lastExecuted") != ""
	})
	if n := u.count("/events/count", `{"selector":"origin = \"denied-by-ns-2\""}`); n != 0 {
		t.Errorf("%d events from the rule an exception covers, want 0", n)
	}

	// The webhook got each event once; intrusion detection restarts, a
	// new event comes, and it too arrives once, the earlier ones not
	// again.
	eventIDs := func() []string {
		var ids []string
		for _, raw := range u.all("/events", `{}`, 1000) {
			var e struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(raw, &e)
			ids = append(ids, e.ID)
		}
		return ids
	}
	allDelivered := func() bool {
		ids := eventIDs()
		hookMu.Lock()
		defer hookMu.Unlock()
		for _, id := range ids {
			if delivered[id] == 0 {
				return false
			}
		}
		return len(ids) > 0
	}
	poll.Until(t, 60*time.Second, "the webhook to receive every event", allDelivered)
	idPID := labtest.ComponentPID(t, cfg, "calico-intrusion-detection")
	if err := syscall.Kill(idPID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 60*time.Second, "calico-intrusion-detection to be restarted", func() bool {
		for _, c := range ReadStatus(t, cfg).Components {
			if c.Name == "calico-intrusion-detection" {
				return c.State == "running" && c.PID != idPID
			}
		}
		return false
	})
	run(alert("denied-by-ns-3"), "calicoctl", "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "the new rule's event", func() bool {
		return u.count("/events/count", `{"selector":"origin = \"denied-by-ns-3\""}`) == 1
	})
	poll.Until(t, 60*time.Second, "the webhook to receive the new rule's event", allDelivered)
	// The rules that ran before the restart wait out their period.
	if n := u.count("/events/count", `{"selector":"origin = \"denied-by-ns\""}`); n != 1 {
		t.Errorf("%d events from denied-by-ns after the restart, want still 1 (its period is 1h)", n)
	}
	hookMu.Lock()
	for id, n := range delivered {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	t.Logf("webhook deliveries: %v", deliveredTypes)
	hookMu.Unlock()
	if s := get("securityeventwebhooks.projectcalico.org", "lab-hook", ".status.conditions[0].status"); s != "True" {
		t.Errorf("the webhook's Ready condition: %q", s)
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
