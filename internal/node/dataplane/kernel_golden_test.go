package dataplane

import (
	"context"
	"flag"
	"os"
	"regexp"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

var counters = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// TestGoldenTable compares the kernel's `nft list table` for a fixed
// scenario with testdata/golden-table.nft: the structure users see when
// they inspect a node (dispatch maps, per-endpoint chains with tiers and
// profiles, policy chains with attributed verdicts, IP sets).
func TestGoldenTable(t *testing.T) {
	n := newTestNode(t, Config{NFLOGGroup: 1})
	n.tiers()
	n.namespace("x", map[string]string{"ns": "x"})
	n.addPod("x", "a", "10.65.0.1", map[string]string{"pod": "a"})
	n.addPod("x", "b", "10.65.0.2", map[string]string{"pod": "b"})
	order := 10.0
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v3.GlobalNetworkPolicySpec{
		Order: &order, Selector: "pod == 'a'",
		Ingress: []v3.Rule{
			{Action: v3.Deny, Source: v3.EntityRule{Nets: []string{"192.168.100.0/24"}}},
			{Action: v3.Allow, Protocol: tcpProto(), Source: v3.EntityRule{Selector: "pod == 'b'"}, Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(80), v3.NamedPort("alt")}}},
		},
	}})
	n.sync()
	out, err := n.runner.List(context.Background(), "inet", "calico")
	if err != nil {
		t.Fatal(err)
	}
	got := counters.ReplaceAllString(out, "counter")
	const file = "testdata/golden-table.nft"
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("nft list table differs from %s (run with -update after checking):\n%s", file, lineDiff(string(want), got))
	}
}

func tcpProto() *v3.Protocol { p := v3.ProtocolFromString("TCP"); return &p }

// lineDiff shows the lines only in a and only in b.
func lineDiff(a, b string) string {
	split := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range regexp.MustCompile("\n").Split(s, -1) {
			m[l]++
		}
		return m
	}
	am, bm := split(a), split(b)
	out := ""
	for l, n := range am {
		if bm[l] < n {
			out += "- " + l + "\n"
		}
	}
	for l, n := range bm {
		if am[l] < n {
			out += "+ " + l + "\n"
		}
	}
	return out
}
