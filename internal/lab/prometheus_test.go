package lab_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/poll"
)

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) value() float64 {
	v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
	return v
}

// checkPrometheus is what a user of the lab's Prometheus sees, through
// PROMETHEUS_URL (the Prometheus API service) with PROMETHEUS_TOKEN:
// every component the lab runs discovered through the API server and up,
// with its node; the policy counters rising with traffic; Calico's rules
// evaluated; and the lab's configuration accepted by promtool. Without a
// token or with one not allowed to query, the proxy refuses. traffic
// makes allowed connections (counted under allowPolicy) and denied ones.
func checkPrometheus(t *testing.T, cfg lab.Config, calicoLab func(args ...string) string, allowPolicy string, traffic func()) {
	t.Helper()
	env := labEnv(t, calicoLab("env"), "PROMETHEUS_URL", "PROMETHEUS_TOKEN", "CALICO_LAB_CA", "LINSEED_TOKEN")
	pem, err := os.ReadFile(env["CALICO_LAB_CA"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(token, path string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, env["PROMETHEUS_URL"]+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	query := func(q string) []promSample {
		t.Helper()
		code, body := get(env["PROMETHEUS_TOKEN"], "/api/v1/query?query="+url.QueryEscape(q))
		var ans struct {
			Status string `json:"status"`
			Data   struct {
				Result []promSample `json:"result"`
			} `json:"data"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &ans) != nil || ans.Status != "success" {
			t.Fatalf("query %s: HTTP %d: %s", q, code, body)
		}
		return ans.Data.Result
	}

	if code, _ := get("", "/api/v1/query?query=up"); code != http.StatusUnauthorized {
		t.Errorf("a query without a token: HTTP %d, want 401", code)
	}
	if code, _ := get(env["LINSEED_TOKEN"], "/api/v1/query?query=up"); code != http.StatusForbidden {
		t.Errorf("a query with a token not allowed to query metrics: HTTP %d, want 403", code)
	}

	// Every component the lab runs, found through the API server.
	want := map[string]int{"calico-node": cfg.Nodes, "calico-typha": min(cfg.TyphaReplicas, cfg.Nodes), "calico-kube-controllers": 1,
		"calico-linseed": 1, "calico-log-shipper": cfg.Nodes, "calico-prometheus-service": 1,
		"calico-packetcapture": 1}
	var up []promSample
	ok := poll.Within(40*time.Second, func() bool {
		up = query("up == 1")
		got := map[string]int{}
		for _, s := range up {
			got[s.Metric["job"]]++
		}
		for job, n := range want {
			if got[job] != n {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("up: want %v targets up, got %+v", want, up)
	}
	for _, s := range up {
		if s.Metric["job"] == "calico-node" && !slices.Contains([]string{"node-1", "node-2", "node-3"}, s.Metric["node"]) {
			t.Errorf("calico-node target %s has node %q", s.Metric["instance"], s.Metric["node"])
		}
	}

	// The policy counters follow traffic.
	sum := func(q string) float64 {
		var total float64
		for _, s := range query(q) {
			total += s.value()
		}
		return total
	}
	counter := fmt.Sprintf(`cnx_policy_rule_packets{policy=%q,action="allow"}`, allowPolicy)
	before := sum(counter)
	traffic()
	if !poll.Within(40*time.Second, func() bool { return sum(counter) > before }) {
		t.Errorf("%s stayed at %v after traffic", counter, before)
	}
	t.Logf("%s: %v, then %v after traffic", counter, before, sum(counter))
	// Calico's rules run: the denied-packets recording rule has series.
	if !poll.Within(40*time.Second, func() bool { return len(query("calico:policy_denied_packets:rate5m")) > 0 }) {
		t.Error("the recording rule calico:policy_denied_packets:rate5m has no series")
	}

	out, err := exec.Command(labtest.Tool(t, "promtool"), "check", "config", filepath.Join(cfg.StateDir, "prometheus", "prometheus.yml")).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check config on the lab's configuration: %v\n%s", err, out)
	}
}
