package dataplane

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

// echoServer accepts TCP connections in a namespace and echoes lines.
func echoServer(t *testing.T, ns string, port int) {
	t.Helper()
	var l net.Listener
	if err := probe.InNamespace(ns, func() (err error) {
		l, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// TestRestartKeepsConnectionsAndEnforcement replaces the whole policy
// engine and dataplane (as a restart of calico-node would) while a TCP
// connection is open and while denied traffic keeps knocking: the
// connection survives, and nothing denied ever gets through.
func TestRestartKeepsConnectionsAndEnforcement(t *testing.T) {
	n := newTestNode(t, Config{})
	n.tiers()
	n.namespace("x", nil)
	a := n.addPod("x", "a", "10.65.0.1", map[string]string{"pod": "a"})
	b := n.addPod("x", "b", "10.65.0.2", map[string]string{"pod": "b"})
	echoServer(t, b.netns, 9000)
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "b-only-from-a"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "pod == 'b'",
		Ingress:  []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: "pod == 'a'"}}},
	}})
	n.sync()

	var conn net.Conn
	if err := probe.InNamespace(a.netns, func() (err error) {
		conn, err = net.DialTimeout("tcp", b.ip+":9000", 2*time.Second)
		return err
	}); err != nil {
		t.Fatalf("open connection a → b: %v", err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	echo := func(msg string) error {
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := fmt.Fprintln(conn, msg); err != nil {
			return err
		}
		got, err := r.ReadString('\n')
		if err == nil && got != msg+"\n" {
			err = fmt.Errorf("echo %q, want %q", got, msg)
		}
		return err
	}
	if err := echo("before"); err != nil {
		t.Fatal(err)
	}

	// Denied traffic keeps trying throughout.
	var leaked atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := probe.Connect(n.ext, "TCP", b.ip, 80, 300*time.Millisecond)
			if err == nil && res.Connected {
				leaked.Add(1)
			}
		}
	}()

	// The restart: a new graph and dataplane that know nothing, fed the
	// same datastore state. Until it is in sync it must not touch the
	// kernel; then its first transaction replaces the table atomically.
	dp, err := New(Config{}, n.runner, newRoutes(t, n.node))
	if err != nil {
		t.Fatal(err)
	}
	g := calc.New(calc.Config{Hostname: nodeName}, func(msgs []proto.Message) {
		if err := dp.OnMessages(msgs); err != nil {
			t.Error(err)
		}
	})
	var ups []model.Update
	for k, v := range n.kvs {
		ups = append(ups, model.Update{KVPair: model.KVPair{Key: k, Value: v}})
	}
	g.OnUpdates(ups)
	g.Flush()
	if err := dp.Apply(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := echo("while not in sync"); err != nil {
		t.Fatalf("connection broke before the new dataplane was in sync: %v", err)
	}
	g.OnStatusUpdated(model.InSync)
	g.Flush()
	if err := dp.Apply(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := echo("after"); err != nil {
		t.Fatalf("connection broke across the restart: %v", err)
	}
	close(stop)
	wg.Wait()
	if n := leaked.Load(); n > 0 {
		t.Errorf("denied traffic got through %d time(s) during the restart", n)
	}
	// And the new dataplane enforces the same policy.
	n.dp, n.graph = dp, g
	agree(t, n.probeAll(tcpUDP80))
}
