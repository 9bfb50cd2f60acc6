package calc

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

// A state is a datastore snapshot: every key with its value.
type state struct {
	name string
	kvs  []model.KVPair
}

func (s state) with(kvs ...model.KVPair) state {
	out := state{name: s.name, kvs: slices.Clone(s.kvs)}
	for _, kv := range kvs {
		replaced := false
		for i := range out.kvs {
			if out.kvs[i].Key == kv.Key {
				out.kvs[i] = kv
				replaced = true
			}
		}
		if !replaced {
			out.kvs = append(out.kvs, kv)
		}
	}
	return out
}

func (s state) without(keys ...model.Key) state {
	out := state{name: s.name}
	for _, kv := range s.kvs {
		if !slices.Contains(keys, kv.Key) {
			out.kvs = append(out.kvs, kv)
		}
	}
	return out
}

func (s state) named(n string) state { s.name = n; return s }

// Builders for test resources.

func nsProfile(ns string, labels map[string]string) model.KVPair {
	p := conversion.NamespaceProfile(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}})
	return model.KVPair{Key: model.Key{Kind: model.KindProfile, Name: p.Name}, Value: p}
}

func saProfile(ns, sa string, labels map[string]string) model.KVPair {
	p := conversion.ServiceAccountProfile(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns, Labels: labels}})
	return model.KVPair{Key: model.Key{Kind: model.KindProfile, Name: p.Name}, Value: p}
}

type wepOpt func(*v3.WorkloadEndpoint)

func withPorts(ports ...v3.WorkloadEndpointPort) wepOpt {
	return func(w *v3.WorkloadEndpoint) { w.Spec.Ports = ports }
}

func withSA(sa string) wepOpt {
	return func(w *v3.WorkloadEndpoint) {
		w.Spec.ServiceAccountName = sa
		w.Labels[v3.LabelServiceAccount] = sa
		w.Spec.Profiles = []string{"kns." + w.Namespace, "ksa." + w.Namespace + "." + sa}
	}
}

func wep(node, ns, pod, ip string, labels map[string]string, opts ...wepOpt) model.KVPair {
	l := map[string]string{v3.LabelNamespace: ns, v3.LabelOrchestrator: "k8s"}
	maps.Copy(l, labels)
	name := conversion.WorkloadEndpointName(node, pod, "eth0")
	w := &v3.WorkloadEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l},
		Spec: v3.WorkloadEndpointSpec{
			Orchestrator: "k8s", Node: node, Pod: pod, Endpoint: "eth0",
			IPNetworks: []string{ip + "/32"}, Profiles: []string{"kns." + ns},
			InterfaceName: conversion.VethName(ns, pod),
		},
	}
	for _, o := range opts {
		o(w)
	}
	return model.KVPair{Key: model.Key{Kind: model.KindWorkloadEndpoint, Namespace: ns, Name: name}, Value: w}
}

func tier(name string, order float64, action v3.Action) model.KVPair {
	return model.KVPair{Key: model.Key{Kind: "Tier", Name: name}, Value: &v3.Tier{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.TierSpec{Order: &order, DefaultAction: action}}}
}

func builtinTiers() []model.KVPair {
	var out []model.KVPair
	for _, t := range v3.BuiltinTiers() {
		out = append(out, tier(t.Name, t.Order, t.DefaultAction))
	}
	return out
}

func gnp(name, tierName string, order float64, sel string, ingress, egress []v3.Rule) model.KVPair {
	p := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v3.GlobalNetworkPolicySpec{Tier: tierName, Order: &order, Selector: sel, Ingress: ingress, Egress: egress}}
	v3.Default(p)
	return model.KVPair{Key: model.Key{Kind: "GlobalNetworkPolicy", Name: name}, Value: p}
}

func np(ns, name string, order float64, sel string, ingress, egress []v3.Rule) model.KVPair {
	p := &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v3.NetworkPolicySpec{Order: &order, Selector: sel, Ingress: ingress, Egress: egress}}
	v3.Default(p)
	return model.KVPair{Key: model.Key{Kind: "NetworkPolicy", Namespace: ns, Name: name}, Value: p}
}

func gns(name string, labels map[string]string, nets ...string) model.KVPair {
	return model.KVPair{Key: model.Key{Kind: "GlobalNetworkSet", Name: name}, Value: &v3.GlobalNetworkSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: v3.GlobalNetworkSetSpec{Nets: nets}}}
}

func allowFrom(sel string) v3.Rule {
	return v3.Rule{Action: v3.Allow, Source: v3.EntityRule{Selector: sel}}
}

func tcp() *v3.Protocol { p := v3.ProtocolFromString("TCP"); return &p }

// run drives a graph through states and returns the dataplane state after
// each, checking the ordering contract on every flush.
func run(t *testing.T, hostname string, states []state, shuffle *rand.Rand) []*proto.State {
	t.Helper()
	dp := proto.NewState()
	var applyErr error
	g := New(Config{Hostname: hostname}, func(msgs []proto.Message) {
		if err := dp.Apply(msgs); err != nil && applyErr == nil {
			applyErr = err
		}
	})
	var out []*proto.State
	current := map[model.Key]any{}
	for i, s := range states {
		next := map[model.Key]any{}
		for _, kv := range s.kvs {
			next[kv.Key] = kv.Value
		}
		var ups []model.Update
		for k := range current {
			if _, ok := next[k]; !ok {
				ups = append(ups, model.Update{KVPair: model.KVPair{Key: k}})
			}
		}
		for _, kv := range s.kvs {
			if old, ok := current[kv.Key]; !ok || !reflect.DeepEqual(old, kv.Value) {
				ups = append(ups, model.Update{KVPair: kv})
			}
		}
		if shuffle != nil {
			shuffle.Shuffle(len(ups), func(a, b int) { ups[a], ups[b] = ups[b], ups[a] })
		}
		g.OnUpdates(ups)
		if i == 0 {
			g.OnStatusUpdated(model.InSync)
		}
		g.Flush()
		if applyErr != nil {
			t.Fatalf("state %q: ordering contract broken: %v", s.name, applyErr)
		}
		current = next
		out = append(out, cloneState(dp))
	}
	return out
}

func cloneState(s *proto.State) *proto.State {
	c := proto.NewState()
	for id, set := range s.IPSets {
		c.IPSets[id] = maps.Clone(set)
	}
	maps.Copy(c.SetTypes, s.SetTypes)
	maps.Copy(c.Policies, s.Policies)
	maps.Copy(c.Profiles, s.Profiles)
	maps.Copy(c.Workloads, s.Workloads)
	maps.Copy(c.Hosts, s.Hosts)
	maps.Copy(c.Routes, s.Routes)
	maps.Copy(c.VTEPs, s.VTEPs)
	maps.Copy(c.Pools, s.Pools)
	c.InSync = s.InSync
	return c
}

// diffState describes how two dataplane states differ, or "".
func diffState(a, b *proto.State) string {
	switch {
	case !reflect.DeepEqual(a.IPSets, b.IPSets):
		return fmt.Sprintf("IP sets differ:\n%v\nvs\n%v", a.IPSets, b.IPSets)
	case !reflect.DeepEqual(a.Policies, b.Policies):
		return fmt.Sprintf("policies differ: %v vs %v", slices.Collect(maps.Keys(a.Policies)), slices.Collect(maps.Keys(b.Policies)))
	case !reflect.DeepEqual(a.Profiles, b.Profiles):
		return fmt.Sprintf("profiles differ: %v vs %v", slices.Collect(maps.Keys(a.Profiles)), slices.Collect(maps.Keys(b.Profiles)))
	case !reflect.DeepEqual(a.Workloads, b.Workloads):
		return fmt.Sprintf("workload endpoints differ:\n%s\nvs\n%s", describeWorkloads(a), describeWorkloads(b))
	case !reflect.DeepEqual(a.Hosts, b.Hosts):
		return "host endpoints differ"
	case !reflect.DeepEqual(a.Routes, b.Routes):
		return fmt.Sprintf("routes differ: %v vs %v", a.Routes, b.Routes)
	case !reflect.DeepEqual(a.VTEPs, b.VTEPs):
		return fmt.Sprintf("VTEPs differ: %v vs %v", a.VTEPs, b.VTEPs)
	case !reflect.DeepEqual(a.Pools, b.Pools):
		return fmt.Sprintf("pools differ: %v vs %v", a.Pools, b.Pools)
	}
	return ""
}

func describeWorkloads(s *proto.State) string {
	out := ""
	for _, id := range slices.SortedFunc(maps.Keys(s.Workloads), func(a, b proto.WorkloadEndpointID) int {
		return cmpString(a.String(), b.String())
	}) {
		out += fmt.Sprintf("  %v: %+v\n", id, s.Workloads[id].Tiers)
	}
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
