package dataplane

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/model"
)

func nsObj(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// rrServer answers every byte with a byte.
func rrServer(tb testing.TB, ns string, port int) {
	var l net.Listener
	if err := probe.InNamespace(ns, func() (err error) {
		l, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// rrRate counts request/response round trips per second for d.
func rrRate(tb testing.TB, ns, addr string, d time.Duration) float64 {
	var c net.Conn
	if err := probe.InNamespace(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	buf := []byte{1}
	n := 0
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := c.Write(buf); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			tb.Fatal(err)
		}
		n++
	}
	return float64(n) / d.Seconds()
}

// BenchmarkTCPRR measures one-byte request/response round trips over one
// TCP connection between two workloads, with no policy and then with
// 1,000 policies selecting the server and a 10,000-member IP set in a rule
// in force, and reports the ratio of the rates. Policy runs once per
// connection (the conntrack fast path comes first), so the ratio should
// stay close to 1.
func BenchmarkTCPRR(b *testing.B) {
	n := newTestNode(b, Config{})
	n.tiers()
	n.namespace("x", nil)
	client := n.addPod("x", "client", "10.65.0.1", map[string]string{"role": "client"})
	server := n.addPod("x", "server", "10.65.0.2", map[string]string{"role": "server"})
	rrServer(b, server.netns, 7000)
	n.sync()
	addr := server.ip + ":7000"
	var base, loaded float64
	for b.Loop() {
		base = rrRate(b, client.netns, addr, 3*time.Second)
		// 1,000 policies select the server; one rule's source is a
		// 10,000-member set (a network set of 10,000 addresses).
		nets := make([]string, 0, 10000)
		for i := range 10000 {
			nets = append(nets, fmt.Sprintf("172.16.%d.%d/32", i/250, i%250+1))
		}
		n.set(model.Key{Kind: "GlobalNetworkSet", Name: "big"}, &v3.GlobalNetworkSet{
			ObjectMeta: metav1.ObjectMeta{Name: "big", Labels: map[string]string{"set": "big"}}, Spec: v3.GlobalNetworkSetSpec{Nets: nets}})
		for i := range 1000 {
			order := float64(i)
			rules := []v3.Rule{{Action: v3.Deny, Source: v3.EntityRule{Selector: fmt.Sprintf("never == '%d'", i)}}}
			if i == 999 {
				rules = []v3.Rule{
					{Action: v3.Deny, Source: v3.EntityRule{Selector: "set == 'big'"}},
					{Action: v3.Allow, Source: v3.EntityRule{Selector: "role == 'client'"}},
				}
			}
			n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%04d", i)},
				Spec: v3.GlobalNetworkPolicySpec{Order: &order, Selector: "role == 'server'", Ingress: rules}})
		}
		n.sync()
		loaded = rrRate(b, client.netns, addr, 3*time.Second)
	}
	b.ReportMetric(base, "rr-no-policy/s")
	b.ReportMetric(loaded, "rr-with-policy/s")
	b.ReportMetric(loaded/base, "ratio")
}
