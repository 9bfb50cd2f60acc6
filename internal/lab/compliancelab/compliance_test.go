package compliancelab

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/poll"
)

// ledger is a namespace of the test's own: api and db, each with its
// policy in place before it starts.
const ledger = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: api, namespace: ledger}
spec:
  selector: app == "api"
  types: [Ingress, Egress]
  ingress: [{action: Allow, protocol: TCP, source: {selector: app == "web"}}]
  egress: [{action: Allow, destination: {selector: app == "db"}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db, namespace: ledger}
spec:
  selector: app == "db"
  types: [Ingress, Egress]
  ingress: [{action: Allow, protocol: TCP, source: {selector: app == "api"}}]
`

const ledgerPods = `apiVersion: v1
kind: Pod
metadata: {name: api, namespace: ledger, labels: {app: api}}
spec:
  containers: [{name: api, image: registry.example/api, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: ledger, labels: {app: db}}
spec:
  containers: [{name: db, image: registry.example/db, ports: [{containerPort: 5432}]}]
`

// TestComplianceInTheLab: reports scheduled every five minutes in the
// lab, over an interval in which db's policy is deleted, a policy opens
// api to the internet, api's policy is changed, and node-2's kubelet
// configuration is made readable by all:
//   - inventory counts the demo's five endpoints and ledger's two, all
//     protected but db;
//   - network-access flags api as reachable from the internet, and not
//     the demo's backend;
//   - policy-audit lists the creation, change and deletion by the lab's
//     administrator;
//   - cis-benchmark has a row per node, and node-2 fails the kubelet
//     configuration's permissions check;
//   - a user without get on globalreports sees no report and cannot
//     download one;
//   - the controller, killed while the interval's jobs run, neither
//     skips nor repeats the interval.
func TestComplianceInTheLab(t *testing.T) {
	cfg := labtest.DemoLab(t, 2)
	bin, _ := labtest.BinDir()
	run := labtest.Runner(t, cfg)
	run("", "kubectl", "create", "namespace", "ledger")
	run(ledger, "calicoctl", "apply", "-f", "-")
	run(ledgerPods, "kubectl", "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "ledger's pods to run", func() bool {
		o, _ := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", cfg.KubeconfigPath(), "-n", "ledger", "get", "pods",
			"-o", "jsonpath={.items[*].status.podIP}").Output()
		return len(strings.Fields(string(o))) == 2
	})

	// The interval: the current five minutes, if enough of them is left
	// for the changes, else the next.
	const every = 5 * time.Minute
	start := time.Now().UTC().Truncate(every)
	if time.Until(start.Add(every)) < 75*time.Second {
		start = start.Add(every)
		poll.Until(t, every, "the next interval", func() bool { return time.Now().After(start.Add(time.Second)) })
	}
	end := start.Add(every)
	t.Logf("the reports' interval: %s to %s", start.Format(time.TimeOnly), end.Format(time.TimeOnly))
	scope := "  endpoints: {namespaces: {names: [demo, ledger]}}\n"
	var reports strings.Builder
	for _, r := range []struct{ name, typ, extra string }{
		{"ledger-inventory", "inventory", scope}, {"ledger-access", "network-access", scope},
		{"ledger-audit", "policy-audit", ""}, {"nodes-cis", "cis-benchmark", ""},
	} {
		fmt.Fprintf(&reports, "apiVersion: projectcalico.org/v3\nkind: GlobalReport\nmetadata: {name: %s}\nspec:\n  reportType: %s\n  schedule: \"*/5 * * * *\"\n%s---\n",
			r.name, r.typ, r.extra)
	}
	run(reports.String(), "kubectl", "apply", "-f", "-")

	// The changes, within the interval.
	run("", "calicoctl", "delete", "networkpolicy", "db", "-n", "ledger")
	run(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: api-public, namespace: ledger}
spec:
  selector: app == "api"
  types: [Ingress]
  ingress: [{action: Allow, protocol: TCP, source: {nets: [0.0.0.0/0]}, destination: {ports: [8080]}}]
`, "calicoctl", "apply", "-f", "-")
	run(strings.Replace(ledger[:strings.Index(ledger, "---")],
		`source: {selector: app == "web"}`, `source: {selector: app == "web"}, destination: {ports: [8080]}`, 1), "calicoctl", "apply", "-f", "-")
	var rec struct {
		Cluster struct {
			Hosts []struct{ Name, Dir string } `json:"hosts"`
		} `json:"cluster"`
	}
	data, err := os.ReadFile(filepath.Join(cfg.StateDir, "nodes.json"))
	if err != nil || json.Unmarshal(data, &rec) != nil || len(rec.Cluster.Hosts) != 2 {
		t.Fatalf("the lab's nodes.json: %v %s", err, data)
	}
	if err := os.Chmod(filepath.Join(rec.Cluster.Hosts[1].Dir, "kubelet", "config.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The controller is killed once the interval's first job exists,
	// while the jobs run.
	jobs := func() []string {
		o, _ := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", cfg.KubeconfigPath(), "-n", "kube-system", "get", "jobs",
			"-l", "projectcalico.org/report", "-o", "jsonpath={.items[*].metadata.name}").Output()
		return strings.Fields(string(o))
	}
	poll.Until(t, time.Until(end)+2*time.Minute, "the controller to create the interval's first report job", func() bool { return len(jobs()) > 0 })
	if err := syscall.Kill(labtest.ComponentPID(t, cfg, "calico-compliance-controller"), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	env := labtest.Env(t, cfg, "MANAGER_URL", "MANAGER_TOKEN", "CALICO_LAB_CA")
	api := labtest.NewConsole(t, env)
	type summary struct {
		ID         string `json:"id"`
		ReportName string `json:"reportName"`
		StartTime  string `json:"startTime"`
		Downloads  []struct {
			Name, URL string
		} `json:"downloads"`
	}
	var list struct {
		Reports []summary `json:"reports"`
	}
	mine := map[string]summary{}
	poll.Until(t, 4*time.Minute, "the four reports of the interval", func() bool {
		if api.Get(env["MANAGER_TOKEN"], "/compliance/reports", &list) != 200 {
			return false
		}
		clear(mine)
		for _, r := range list.Reports {
			if st, _ := time.Parse(time.RFC3339, r.StartTime); st.Equal(start) {
				if _, dup := mine[r.ReportName]; dup {
					t.Fatalf("two reports of %s over the same interval", r.ReportName)
				}
				mine[r.ReportName] = r
			}
		}
		return len(mine) == 4
	})
	download := func(token, report, file string) (int, string) {
		t.Helper()
		var url string
		for _, d := range mine[report].Downloads {
			if d.Name == file {
				url = d.URL
			}
		}
		if url == "" {
			t.Fatalf("report %s has no download %s: %+v", report, file, mine[report].Downloads)
		}
		code, body := api.Raw(http.MethodGet, token, url, "")
		return code, string(body)
	}
	csvOf := func(report, file string) string {
		t.Helper()
		code, body := download(env["MANAGER_TOKEN"], report, file)
		if code != 200 {
			t.Fatalf("%s %s: HTTP %d %s", report, file, code, body)
		}
		return body
	}
	row := func(csv, prefix string) string {
		for l := range strings.SplitSeq(csv, "\n") {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		return ""
	}

	// inventory: demo's 5 and ledger's 2 in scope; db unprotected.
	inv := csvOf("ledger-inventory", "summary.csv")
	if !strings.Contains(inv, ",7,6,6,") {
		t.Errorf("inventory summary.csv: want 7 endpoints in scope, 6 ingress and 6 egress protected:\n%s", inv)
	}
	eps := csvOf("ledger-inventory", "endpoints.csv")
	if r := row(eps, "Pod(ledger/db),"); !strings.HasPrefix(r, "Pod(ledger/db),false,false,") {
		t.Errorf("inventory: db, whose policy was deleted mid-interval: %q\n%s", r, eps)
	}
	if r := row(eps, "Pod(ledger/api),"); !strings.HasPrefix(r, "Pod(ledger/api),true,true,") || !strings.Contains(r, "api-public") {
		t.Errorf("inventory: api: %q", r)
	}

	// network-access: api reachable from the internet after api-public;
	// the demo's backend is not.
	access := csvOf("ledger-access", "endpoints.csv")
	header := strings.Split(row(access, "endpoint,"), ",")
	col := func(r, name string) string {
		f := strings.Split(r, ",")
		for i, h := range header {
			if h == name && i < len(f) {
				return f[i]
			}
		}
		return ""
	}
	if r := row(access, "Pod(ledger/api),"); col(r, "ingressFromInternet") != "true" {
		t.Errorf("network-access: api should be reachable from the internet: %q\n%s", r, access)
	}
	if r := row(access, "Pod(demo/backend-"); r == "" || col(r, "ingressFromInternet") != "false" {
		t.Errorf("network-access: the backend should not be reachable from the internet: %q", r)
	}

	// policy-audit: the creation, the change and the deletion, by the
	// lab's administrator.
	events := csvOf("ledger-audit", "events.json")
	for _, want := range []string{`"name":"api-public"`, `"verb":"delete"`, `"username":"lab-admin"`} {
		if !strings.Contains(events, want) {
			t.Errorf("policy-audit events.json lacks %s:\n%.2000s", want, events)
		}
	}
	// calicoctl's dry run before its delete changed nothing.
	if n := strings.Count(events, `"verb":"delete"`); n != 1 {
		t.Errorf("policy-audit events.json has %d deletes, want db's one", n)
	}
	audit := csvOf("ledger-audit", "summary.csv")
	t.Logf("policy-audit summary.csv:\n%s", audit)

	// cis-benchmark: a row per node; node-2's kubelet configuration
	// fails its permissions check, node-1's passes.
	nodes := csvOf("nodes-cis", "node-summary.csv")
	for _, n := range []string{"node-1,", "node-2,"} {
		if row(nodes, n) == "" {
			t.Errorf("cis-benchmark node-summary.csv has no row for %s\n%s", strings.TrimSuffix(n, ","), nodes)
		}
	}
	failed := csvOf("nodes-cis", "failed-tests.csv")
	if row(failed, "node-2,4.1.9,") == "" || row(failed, "node-1,4.1.9,") != "" {
		t.Errorf("cis-benchmark failed-tests.csv: want 4.1.9 failed on node-2 only:\n%s", failed)
	}
	t.Logf("cis-benchmark node-summary.csv:\n%s", nodes)

	// A user without get on globalreports sees no report, and cannot
	// download one.
	nobody := labtest.ServiceAccountToken(t, cfg, "compliance-nobody", "view")
	var theirs struct {
		Reports []summary `json:"reports"`
	}
	if code := api.Get(nobody, "/compliance/reports", &theirs); code != 200 || len(theirs.Reports) != 0 {
		t.Errorf("a user without rights on globalreports lists: HTTP %d, %d reports", code, len(theirs.Reports))
	}
	if code, _ := download(nobody, "ledger-inventory", "endpoints.csv"); code != http.StatusNotFound {
		t.Errorf("a user without rights on globalreports downloads: HTTP %d, want 404", code)
	}

	// The restarted controller recorded each report's interval once: one
	// job each, and the status names it as succeeded.
	poll.Until(t, 90*time.Second, "the controller to be back and record the jobs' success", func() bool {
		for _, name := range []string{"ledger-inventory", "ledger-access", "ledger-audit", "nodes-cis"} {
			o, _ := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", cfg.KubeconfigPath(), "get", "globalreports.projectcalico.org", name,
				"-o", "jsonpath={.status.lastSuccessfulReportJobs[*].job.name}").Output()
			if len(strings.Fields(string(o))) != 1 {
				return false
			}
		}
		return true
	})
	if js := jobs(); len(js) != 4 {
		t.Errorf("report jobs: %v, want one per report", js)
	}
}
