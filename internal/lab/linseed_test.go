package lab_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/poll"
)

// linseedUser is someone using the lab's Linseed with what `calico-lab
// env` gives them: its URL, the lab's CA, a client certificate and a
// token.
type linseedUser struct {
	t      *testing.T
	url    string
	token  string
	client *http.Client
}

func labEnv(t *testing.T, envOutput string, want ...string) map[string]string {
	return labtest.ParseEnv(t, envOutput, want...)
}

func newLinseedUser(t *testing.T, envOutput string) *linseedUser {
	t.Helper()
	env := labEnv(t, envOutput, "LINSEED_URL", "CALICO_LAB_CA", "LINSEED_CLIENT_CERT", "LINSEED_CLIENT_KEY", "LINSEED_TOKEN")
	pem, err := os.ReadFile(env["CALICO_LAB_CA"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(env["LINSEED_CLIENT_CERT"], env["LINSEED_CLIENT_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	return &linseedUser{t: t, url: env["LINSEED_URL"], token: env["LINSEED_TOKEN"], client: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}}
}

// post sends a read and decodes its answer; it fails the test if the
// request gets no HTTP answer at all.
func (u *linseedUser) post(path, body string) (int, map[string]any) {
	u.t.Helper()
	return u.postAs(u.client, u.token, path, body)
}

func (u *linseedUser) postAs(client *http.Client, token, path, body string) (int, map[string]any) {
	u.t.Helper()
	status, data, err := u.do(client, token, path, body)
	if err != nil {
		u.t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		u.t.Fatalf("POST %s: %d %s", path, status, data)
	}
	return status, out
}

func (u *linseedUser) do(client *http.Client, token, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, u.url+"/api/v1"+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// count answers a …/count read.
func (u *linseedUser) count(path, body string) int {
	u.t.Helper()
	status, res := u.post(path, body)
	n, ok := res["count"].(float64)
	if status != http.StatusOK || !ok {
		u.t.Fatalf("POST %s %s: %d %v", path, body, status, res)
	}
	return int(n)
}

// all pages through a list with after_key, pageSize records at a time.
func (u *linseedUser) all(path, body string, pageSize int) []json.RawMessage {
	u.t.Helper()
	var out []json.RawMessage
	var after json.RawMessage
	for pages := 0; ; pages++ {
		var req map[string]any
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			u.t.Fatal(err)
		}
		req["max_page_size"] = pageSize
		if after != nil {
			req["after_key"] = after
		}
		b, _ := json.Marshal(req)
		status, data, err := u.do(u.client, u.token, path, string(b))
		if err != nil || status != http.StatusOK {
			u.t.Fatalf("POST %s page %d: %d %s %v", path, pages, status, data, err)
		}
		var page struct {
			Items    []json.RawMessage `json:"items"`
			AfterKey json.RawMessage   `json:"after_key"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			u.t.Fatal(err)
		}
		out = append(out, page.Items...)
		if len(page.Items) > pageSize {
			u.t.Fatalf("a page of %d records, asked for %d", len(page.Items), pageSize)
		}
		if string(page.AfterKey) == "null" || len(page.AfterKey) == 0 {
			return out
		}
		after = page.AfterKey
	}
}

// flowKey is what identifies a flow log line for comparing the nodes'
// files with what Linseed holds.
func flowKey(t *testing.T, line []byte) string {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	var b strings.Builder
	for _, k := range []string{"host", "start_time", "end_time", "reporter", "action", "proto", "source_name", "source_namespace",
		"dest_name", "dest_namespace", "dest_port", "bytes_in", "bytes_out", "packets_in", "packets_out", "num_flows_started"} {
		fmt.Fprintf(&b, "%v|", r[k])
	}
	return b.String()
}

// fileFlows reads every flow log line the nodes wrote, rotated files
// included.
func fileFlows(t *testing.T, cfg lab.Config) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(cfg.StateDir, "nodes", "*", "flowlogs", "flows.log*"))
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := bufio.NewScanner(bytes.NewReader(data))
		s.Buffer(nil, 1<<20)
		for s.Scan() {
			out = append(out, flowKey(t, s.Bytes()))
		}
	}
	slices.Sort(out)
	return out
}

// checkLinseed is TestFlowLogs through Linseed, as its user: refusals
// without a certificate, a token or the rights; the denied flows by
// namespace, action and policy within two flush intervals and the
// shipping delay; a policy's kubectl apply in the audit log with its
// user; paging through every record once; and an outage of Linseed
// while traffic flows (a minute under make e2e) that loses and
// duplicates no flow record once the shippers catch up.
func checkLinseed(t *testing.T, cfg lab.Config, run func(stdin, name string, args ...string) string,
	calicoLab func(args ...string) string, traffic func()) {
	u := newLinseedUser(t, calicoLab("env"))

	// Refusals: no client certificate, no token, a token without rights
	// (the shippers may write, not read).
	noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: u.client.Transport.(*http.Transport).TLSClientConfig.RootCAs}}}
	if status, _, err := u.do(noCert, u.token, "/flows/logs", "{}"); err == nil {
		t.Errorf("without a client certificate: HTTP %d, want a TLS failure", status)
	}
	if status, _ := u.postAs(u.client, "", "/flows/logs", "{}"); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", status)
	}
	shipperToken, err := os.ReadFile(filepath.Join(cfg.StateDir, "pki", "log-shipper.token"))
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := u.postAs(u.client, strings.TrimSpace(string(shipperToken)), "/flows/logs", "{}"); status != http.StatusForbidden {
		t.Errorf("reading with the shippers' token: %d, want 403", status)
	}

	// A new denied connection is findable by namespace, action and
	// policy within two flush intervals and the shipping delay.
	start := time.Now()
	denied := func() int {
		return u.count("/flows/logs/count", fmt.Sprintf(`{"selector":"dest_port = 9090 AND end_time >= %d",
			"namespace_matches":[{"type":"dst","namespaces":["fl"]}], "actions":["deny"],
			"policy_matches":[{"tier":"flsec","name":"deny-9090","action":"deny"}]}`, start.Unix()))
	}
	traffic()
	poll.Until(t, 2*cfg.FlowLogsFlushInterval+5*time.Second, "the denied connection in Linseed", func() bool { return denied() > 0 })
	t.Logf("the denied connection was in Linseed %v after it was made", time.Since(start).Round(100*time.Millisecond))
	if n := u.count("/flows/logs/count", `{"namespace_matches":[{"type":"any","namespaces":["fl"]}],"policy_matches":[{"tier":"nosuch"}]}`); n != 0 {
		t.Errorf("flows with a policy of tier nosuch: %d", n)
	}

	// kubectl apply of a policy: in Calico's audit log, with its user.
	run(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: audited, namespace: fl}
spec: {selector: app == 'nothing', types: [Ingress]}
`, "kubectl", "apply", "-f", "-")
	var ev map[string]any
	poll.Until(t, 20*time.Second, "the policy's creation in the audit log", func() bool {
		_, res := u.post("/audit/logs", `{"type":"ee","selector":"objectRef.name = audited AND objectRef.namespace = fl AND verb = create"}`)
		items, _ := res["items"].([]any)
		if len(items) == 0 {
			return false
		}
		ev, _ = items[0].(map[string]any)
		return true
	})
	if user, _ := ev["user"].(map[string]any); user["username"] != "lab-admin" {
		t.Errorf("the audit event names user %v, want lab-admin (the kubeconfig's)", ev["user"])
	}
	if n := u.count("/audit/logs/count", `{"type":"kube","selector":"objectRef.name = audited"}`); n != 0 {
		t.Errorf("the Calico policy's events are in audit_kube too: %d", n)
	}

	// An outage: Linseed stopped while traffic flows, then started.
	outage := 5 * time.Second
	if os.Getenv("E2E_ALL") != "" {
		outage = time.Minute
	}
	calicoLab("stop", "calico-linseed")
	stopped := time.Now()
	before := len(fileFlows(t, cfg))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(stopped) < outage {
		traffic()
		<-tick.C
	}
	poll.Until(t, 2*cfg.FlowLogsFlushInterval+5*time.Second, "the nodes to write the outage's flows", func() bool {
		return len(fileFlows(t, cfg)) > before
	})
	calicoLab("start", "calico-linseed")
	restarted := time.Now()

	// Every record exactly once: paging through them all, seven at a
	// time, gives the nodes' files, no more and no less, once the
	// shippers have caught up.
	var want, got []string
	caughtUp := poll.Within(90*time.Second, func() bool {
		want = fileFlows(t, cfg)
		got = got[:0]
		for _, item := range u.all("/flows/logs", "{}", 7) {
			got = append(got, flowKey(t, item))
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	})
	if !caughtUp {
		missing, extra := diffSorted(want, got)
		t.Errorf("Linseed holds %d flow logs, the nodes wrote %d: %d missing (%.3v), %d extra or duplicated (%.3v)",
			len(got), len(want), len(missing), missing, len(extra), extra)
	}
	t.Logf("Linseed was down %v while the nodes wrote %d flow logs; the shippers caught up %v after it started",
		restarted.Sub(stopped).Round(time.Second), len(want)-before, time.Since(restarted).Round(100*time.Millisecond))
}

// diffSorted returns what is in a and not b, and in b and not a, counting
// repeats.
func diffSorted(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}
