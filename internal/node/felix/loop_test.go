package felix_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/felixconfig"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/dataplane"
	"github.com/calicong/calico/internal/node/dataplane/nft"
	"github.com/calicong/calico/internal/node/felix"
	"github.com/calicong/calico/internal/poll"
)

// failingNFT stands in for nft: it records the scripts it is given and
// fails them while failing is set.
type failingNFT struct {
	mu      sync.Mutex
	failing bool
	calls   int
	scripts []string
}

func (n *failingNFT) Apply(_ context.Context, script string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	if n.failing {
		return errors.New("netlink: Error: Could not process rule: No buffer space available")
	}
	n.scripts = append(n.scripts, script)
	return nil
}

func (n *failingNFT) Read(context.Context, string, string) (*nft.Kernel, error) {
	return &nft.Kernel{}, nil
}

func (n *failingNFT) setFailing(b bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failing = b
}

func (n *failingNFT) snapshot() (calls int, scripts []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls, slices.Clone(n.scripts)
}

// idleSource hands the callbacks to the test, which drives the stream.
type idleSource struct{}

func (idleSource) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

func gnp(name string, port uint16) model.Update {
	order := 10.0
	tcp := v3.ProtocolFromString("TCP")
	p := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.GlobalNetworkPolicySpec{
		Tier: "default", Order: &order, Selector: "all()", Types: []v3.PolicyType{v3.PolicyTypeIngress},
		Ingress: []v3.Rule{{Action: v3.Allow, Protocol: &tcp, Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(port)}}}},
	}}
	return model.Update{KVPair: model.KVPair{Key: model.Key{Kind: "GlobalNetworkPolicy", Name: name}, Value: p}}
}

// TestLoopOrderingRetriesAndIncrementalChanges drives Felix's loop with a
// scripted datastore stream and a failing nft:
//   - nothing reaches nft before the stream is in sync;
//   - a kernel error keeps the node unready, is counted, and is retried
//     (with the whole table) until it succeeds;
//   - a change to one policy rewrites that policy's chains only.
func TestLoopOrderingRetriesAndIncrementalChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fc, err := felixconfig.Resolve(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fake := &failingNFT{failing: true}
	dp, err := dataplane.New(felix.DataplaneConfig(fc, log), fake, nil)
	if err != nil {
		t.Fatal(err)
	}
	agg := health.New(nil)
	reg := prometheus.NewRegistry()
	cbs := make(chan model.SyncerCallbacks, 1)
	f, err := felix.New(felix.Config{
		NodeName: "loop-node", Felix: fc, Dataplane: dp, Health: agg, Metrics: reg, Log: log,
		MinApplyInterval: time.Millisecond, RetryInterval: 20 * time.Millisecond,
		NewSource: func(cb model.SyncerCallbacks) (felix.Source, error) {
			cbs <- cb
			return idleSource{}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	cb := <-cbs

	cb.OnStatusUpdated(model.ResyncInProgress)
	var ups []model.Update
	for _, tr := range v3.BuiltinTiers() {
		order := tr.Order
		ups = append(ups, model.Update{KVPair: model.KVPair{Key: model.Key{Kind: "Tier", Name: tr.Name},
			Value: &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: tr.Name}, Spec: v3.TierSpec{Order: &order, DefaultAction: tr.DefaultAction}}}})
	}
	name := conversion.WorkloadEndpointName("loop-node", "pod", "eth0")
	ups = append(ups, model.Update{KVPair: model.KVPair{Key: model.Key{Kind: model.KindWorkloadEndpoint, Namespace: "ns", Name: name},
		Value: &v3.WorkloadEndpoint{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{v3.LabelNamespace: "ns"}},
			Spec: v3.WorkloadEndpointSpec{Orchestrator: "k8s", Node: "loop-node", Pod: "pod", Endpoint: "eth0",
				IPNetworks: []string{"10.65.0.1/32"}, InterfaceName: conversion.VethName("ns", "pod")}}}},
		gnp("one", 80), gnp("two", 443))
	cb.OnUpdates(ups)
	poll.Until(t, 10*time.Second, "the graph to hand messages to the dataplane", func() bool {
		return gathered(t, reg, "felix_int_dataplane_messages") > 0
	})
	if calls, _ := fake.snapshot(); calls != 0 {
		t.Fatalf("nft was called %d time(s) before the datastore was in sync", calls)
	}
	if agg.Status().Ready {
		t.Fatal("ready before in sync")
	}

	// In sync: the kernel refuses, Felix retries and says why it is not
	// ready; once the kernel accepts, it is ready.
	cb.OnStatusUpdated(model.InSync)
	poll.Until(t, 10*time.Second, "repeated failures to be reported", func() bool {
		st := agg.Status()
		return gathered(t, reg, "felix_int_dataplane_failures") >= 2 && !st.Ready &&
			strings.Contains(st.Parts["dataplane"].Detail, "No buffer space available")
	})
	fake.setFailing(false)
	poll.Until(t, 10*time.Second, "a successful retry and readiness", func() bool {
		_, scripts := fake.snapshot()
		return len(scripts) == 1 && agg.Status().Ready
	})
	calls, scripts := fake.snapshot()
	if failures := gathered(t, reg, "felix_int_dataplane_failures"); float64(calls) != failures+1 {
		t.Errorf("nft calls = %d, failures = %v: every failure should be followed by exactly one retry", calls, failures)
	}
	chainRE := regexp.MustCompile(`(?m)^(?:add|flush) chain inet \S+ (\S+)`)
	chainsIn := func(script string) []string {
		var out []string
		for _, m := range chainRE.FindAllStringSubmatch(script, -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
		return out
	}
	full := chainsIn(scripts[0])
	polOne, polTwo := "", ""
	for _, c := range full {
		desc, _ := dp.DescribeRuleChain(c)
		switch {
		case !strings.HasPrefix(c, "pi-"):
		case strings.HasSuffix(desc, "one"):
			polOne = c
		case strings.HasSuffix(desc, "two"):
			polTwo = c
		}
	}
	if polOne == "" || polTwo == "" || len(full) < 4 {
		t.Fatalf("the first script lacks the policies' or endpoint's chains: %v", full)
	}

	// Change one policy: only its chain is rewritten.
	cb.OnUpdates([]model.Update{gnp("one", 8080)})
	poll.Until(t, 10*time.Second, "the change to reach nft", func() bool {
		_, s := fake.snapshot()
		return len(s) == 2
	})
	_, scripts = fake.snapshot()
	if got := chainsIn(scripts[1]); !slices.Equal(got, []string{polOne}) {
		t.Errorf("changing policy one rewrote chains %v, want only %s; script:\n%s", got, polOne, scripts[1])
	}
	if !strings.Contains(scripts[1], "8080") || strings.Contains(scripts[1], "443") {
		t.Errorf("incremental script:\n%s", scripts[1])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestConfigChangeBeforeInSyncRestarts: a FelixConfiguration that changes
// after Felix read its first configuration, and arrives before the
// datastore is in sync, still restarts Felix once it is in sync (and not
// before: the stream is partial until then).
func TestConfigChangeBeforeInSyncRestarts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fc, err := felixconfig.Resolve(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := dataplane.New(felix.DataplaneConfig(fc, log), &failingNFT{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cbs := make(chan model.SyncerCallbacks, 1)
	f, err := felix.New(felix.Config{NodeName: "cfg-node", Felix: fc, Dataplane: dp, Log: log,
		NewSource: func(cb model.SyncerCallbacks) (felix.Source, error) {
			cbs <- cb
			return idleSource{}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	cb := <-cbs
	cb.OnStatusUpdated(model.ResyncInProgress)
	changed := &v3.FelixConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v3.FelixConfigurationSpec{InterfacePrefix: "tap"}}
	cb.OnUpdates([]model.Update{{KVPair: model.KVPair{Key: model.Key{Kind: "FelixConfiguration", Name: "default"}, Value: changed}}})
	select {
	case err := <-done:
		t.Fatalf("Felix ended before the datastore was in sync: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cb.OnStatusUpdated(model.InSync)
	select {
	case err := <-done:
		if !errors.Is(err, felix.ErrConfigChanged) {
			t.Fatalf("Run ended with %v, want ErrConfigChanged", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a configuration change that arrived before in-sync was ignored")
	}
}

func TestInterfacePrefixes(t *testing.T) {
	for in, want := range map[string][]string{"cali": {"cali"}, "cali,tap": {"cali", "tap"}, " cali , tap ,": {"cali", "tap"}, "": {"cali"}} {
		if got := felix.InterfacePrefixes(v3.FelixConfigurationSpec{InterfacePrefix: in}); !slices.Equal(got, want) {
			t.Errorf("interfacePrefix %q: %v, want %v", in, got, want)
		}
	}
}

// TestRepairsAreCountedByKind: each repair the dataplane reports is
// logged and counted under its kind.
func TestRepairsAreCountedByKind(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs strings.Builder
	r, err := felix.NewRepairs(reg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.Record("nftables", "table inet calico is missing")
	r.For("routes")("route 10.65.0.1/32 via cali1 was missing")
	r.For("routes")("blackhole route 10.65.0.0/26 was missing")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "felix_dataplane_repairs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if want := map[string]float64{"nftables": 1, "routes": 2, "vxlan": 0}; !maps.Equal(got, want) {
		t.Errorf("felix_dataplane_repairs_total = %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), `kind=routes repair="blackhole route 10.65.0.0/26 was missing"`) {
		t.Errorf("log:\n%s", logs.String())
	}
}
