package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/pki"
	"github.com/calicong/calico/internal/syncer"
	"github.com/calicong/calico/internal/typha/client"
	"github.com/calicong/calico/internal/typha/tlsauth"
	"github.com/calicong/calico/internal/typha/typhatest"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// replica is one calico-typha process.
type replica struct {
	addr, health, metrics string
	*labtest.Process
}

func startReplica(t *testing.T, bin string, env []string) *replica {
	t.Helper()
	ports, err := labtest.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{
		addr:    fmt.Sprintf("127.0.0.1:%d", ports[0]),
		health:  fmt.Sprintf("127.0.0.1:%d", ports[1]),
		metrics: fmt.Sprintf("127.0.0.1:%d", ports[2]),
	}
	cmd := exec.Command(filepath.Join(bin, "calico-typha"), "--kubeconfig", testLab.Config.KubeconfigPath())
	cmd.Env = append(os.Environ(), append([]string{
		"TYPHA_SERVERHOST=127.0.0.1", "TYPHA_SERVERPORT=" + strconv.Itoa(ports[0]),
		"TYPHA_HEALTHHOST=127.0.0.1", "TYPHA_HEALTHPORT=" + strconv.Itoa(ports[1]),
		"TYPHA_PROMETHEUSMETRICSENABLED=true", "TYPHA_PROMETHEUSMETRICSHOST=127.0.0.1", "TYPHA_PROMETHEUSMETRICSPORT=" + strconv.Itoa(ports[2]),
		"TYPHA_SHUTDOWNTIMEOUTSECS=1", "TYPHA_CONNECTIONREBALANCINGMODE=none",
	}, env...)...)
	r.Process = labtest.StartProcess(t, "calico-typha "+r.addr, cmd)
	return r
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var eventually = typhatest.Eventually

type certs struct {
	dir string
	ca  *pki.Authority
}

func (c certs) issue(t *testing.T, name string, req pki.Request) tlsauth.Files {
	return typhatest.Certs(t, c.dir, c.ca, name, req)
}

// TestThroughTyphaEqualsDirect runs two calico-typha replicas with mutual
// TLS against the real API server, and checks that Felix's and confd's
// clients end with exactly what a direct syncer has, across churn and
// across the loss of the replica they stream from; that the move passes
// nothing on to the consumer and never leaves InSync; that a client
// with the wrong certificate is refused; and health, metrics and SIGTERM.
func TestThroughTyphaEqualsDirect(t *testing.T) {
	bin := labtest.Bin(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kube := testLab.Client.Kube

	for _, n := range []string{"typha-n1", "typha-n2"} {
		if _, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"rack": "a"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "typha", Labels: map[string]string{"team": "x"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(i int, gen string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "typha",
				Labels:      map[string]string{"app": fmt.Sprintf("a%d", i%3), "gen": gen},
				Annotations: map[string]string{v3.AnnotationPodIP: fmt.Sprintf("10.65.0.%d/32", i+1)}},
			Spec: corev1.PodSpec{NodeName: []string{"typha-n1", "typha-n2"}[i%2], Containers: []corev1.Container{{Name: "c", Image: "none"}}},
		}
	}
	for i := range 20 {
		if _, err := labtest.CreatePod(ctx, kube, pod(i, "0")); err != nil {
			t.Fatal(err)
		}
	}
	gnp := func(name, sel string) *v3.GlobalNetworkPolicy {
		g := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.GlobalNetworkPolicySpec{Selector: sel,
			Ingress: []v3.Rule{{Action: "Allow"}}}}
		g.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("GlobalNetworkPolicy"))
		v3.Default(g)
		return g
	}
	if _, err := testLab.Client.Create(ctx, gnp("typha-allow", "app == 'a1'")); err != nil {
		t.Fatal(err)
	}
	peer := &v3.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "typha-peer"}, Spec: v3.BGPPeerSpec{PeerIP: "10.0.0.9", ASNumber: 64999}}
	peer.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("BGPPeer"))
	v3.Default(peer)
	if _, err := testLab.Client.Create(ctx, peer); err != nil {
		t.Fatal(err)
	}

	ca, _, err := pki.NewAuthority("typha-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	cs := certs{dir: t.TempDir(), ca: ca}
	srvFiles := cs.issue(t, "typha", pki.Request{CommonName: "typha-server", Server: true})
	tlsEnv := []string{"TYPHA_CAFILE=" + srvFiles.CAFile, "TYPHA_SERVERCERTFILE=" + srvFiles.CertFile,
		"TYPHA_SERVERKEYFILE=" + srvFiles.KeyFile, "TYPHA_CLIENTCN=typha-client"}
	a := startReplica(t, bin, tlsEnv)
	b := startReplica(t, bin, tlsEnv)
	for _, r := range []*replica{a, b} {
		eventually(t, 30*time.Second, func() string {
			if code, body := get("http://" + r.health + "/readiness"); code != 200 {
				return fmt.Sprintf("readiness of %s: %d %s", r.addr, code, body)
			}
			return ""
		})
	}

	cliTLS, err := tlsauth.Client(cs.issue(t, "felix", pki.Request{CommonName: "typha-client", Client: true}), tlsauth.Identity{CN: "typha-server"})
	if err != nil {
		t.Fatal(err)
	}
	// Clients discover the replicas from this list, as from the Service.
	var replicas atomic.Pointer[[]string]
	replicas.Store(&[]string{a.addr, b.addr})
	run := func(st string) (*client.Client, *typhatest.Recorder) {
		rec := typhatest.NewRecorder()
		c := client.New(client.Config{SyncerType: st, Hostname: "typha-n1", TLS: cliTLS, ReadTimeout: 5 * time.Second,
			Addresses: func(context.Context) ([]string, error) { return *replicas.Load(), nil }}, rec)
		go func() { _ = c.Run(ctx) }()
		return c, rec
	}
	direct := func(st string) *typhatest.Recorder {
		rec := typhatest.NewRecorder()
		srcs, err := testLab.Client.SyncerSources(st, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = syncer.New(srcs, rec, testLogger(t)).Run(ctx) }()
		return rec
	}
	felixDirect, bgpDirect := direct(datastore.SyncerFelix), direct(datastore.SyncerBGP)
	felix, felixRec := run(datastore.SyncerFelix)
	_, bgpRec := run(datastore.SyncerBGP)
	same := func(what string, got, want *typhatest.Recorder) func() string {
		return func() string {
			if st := got.Statuses(); len(st) == 0 || st[len(st)-1] != model.InSync {
				return what + ": client not in sync"
			}
			if st := want.Statuses(); len(st) == 0 || st[len(st)-1] != model.InSync {
				return what + ": direct syncer not in sync"
			}
			if d := got.State().Diff(want.State()); d != "" {
				return what + " through Typha differs from the direct syncer: " + d
			}
			return ""
		}
	}
	both := func() string {
		if m := same("felix", felixRec, felixDirect)(); m != "" {
			return m
		}
		return same("bgp", bgpRec, bgpDirect)()
	}
	eventually(t, 30*time.Second, both)
	if felixRec.Len() < 25 {
		t.Fatalf("felix syncer has only %d keys", felixRec.Len())
	}
	if _, ok := bgpRec.State()[model.Key{Kind: "BGPPeer", Name: "typha-peer"}]; !ok {
		t.Fatal("the bgp syncer lacks the BGPPeer")
	}
	if _, ok := bgpRec.State()[model.Key{Kind: model.KindWorkloadEndpoint, Namespace: "typha", Name: "typha--n1-k8s-p0-eth0"}]; ok {
		t.Fatal("the bgp syncer carries workload endpoints")
	}

	// Lose the replica the client streams from, with nothing changing:
	// the consumer is told nothing.
	first := felix.Connected()
	victim, other := a, b
	if first == b.addr {
		victim, other = b, a
	}
	updates, _ := felixRec.Counts()
	victim.Kill()
	eventually(t, 20*time.Second, func() string {
		if felix.Connected() != other.addr {
			return "felix client has not moved to the other replica"
		}
		return ""
	})
	if after, _ := felixRec.Counts(); after != updates {
		t.Errorf("moving between replicas passed %d updates to the consumer; want none", after-updates)
	}
	if st := felixRec.Statuses(); !slices.Equal(st, []model.SyncStatus{model.WaitForDatastore, model.ResyncInProgress, model.InSync}) &&
		!slices.Equal(st, []model.SyncStatus{model.WaitForDatastore, model.InSync}) {
		t.Errorf("consumer statuses across the move: %v", st)
	}

	// Churn, with a third replica started and the survivor killed
	// mid-stream: every client ends on the third.
	c := startReplica(t, bin, tlsEnv)
	eventually(t, 30*time.Second, func() string {
		if code, body := get("http://" + c.health + "/readiness"); code != 200 {
			return fmt.Sprintf("readiness of %s: %d %s", c.addr, code, body)
		}
		return ""
	})
	replicas.Store(&[]string{other.addr, c.addr})
	late, lateRec := run(datastore.SyncerFelix)
	pods := kube.CoreV1().Pods("typha")
	for round := range 30 {
		name := fmt.Sprintf("p%d", round%20)
		switch round % 3 {
		case 0:
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				p.Labels["gen"] = strconv.Itoa(round)
				_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
			} else if apierrors.IsNotFound(err) {
				_, err = labtest.CreatePod(ctx, kube, pod(round%20, strconv.Itoa(round)))
			}
			if err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		case 2:
			if _, err := testLab.Client.Create(ctx, gnp(fmt.Sprintf("typha-churn-%d", round), fmt.Sprintf("gen == '%d'", round))); err != nil {
				t.Fatal(err)
			}
		}
		if round == 15 {
			other.Kill()
		}
	}
	eventually(t, 30*time.Second, func() string {
		for _, cl := range []*client.Client{felix, late} {
			if cl.Connected() != c.addr {
				return fmt.Sprintf("a client is on %q, not the surviving replica %s", cl.Connected(), c.addr)
			}
		}
		if m := same("felix (joined late)", lateRec, felixDirect)(); m != "" {
			return m
		}
		return both()
	})
	if st := felixRec.Statuses(); st[len(st)-1] != model.InSync || slices.Contains(st[slices.Index(st, model.InSync):], model.ResyncInProgress) {
		t.Errorf("consumer statuses: %v", st)
	}

	// A client whose certificate has the wrong common name is refused.
	badTLS, err := tlsauth.Client(cs.issue(t, "intruder", pki.Request{CommonName: "intruder", Client: true}), tlsauth.Identity{CN: "typha-server"})
	if err != nil {
		t.Fatal(err)
	}
	bad := client.New(client.Config{SyncerType: datastore.SyncerFelix, Hostname: "intruder", TLS: badTLS}, typhatest.NewRecorder())
	if err := bad.Check(ctx, c.addr); err == nil || !strings.Contains(err.Error(), "refused this client's certificate") {
		t.Errorf("a client with the wrong common name: %v", err)
	}
	eventually(t, 10*time.Second, func() string {
		if !strings.Contains(c.Logs.String(), `does not have common name \"typha-client\"`) {
			return "replica did not log the refused certificate"
		}
		return ""
	})

	code, body := get("http://" + c.metrics + "/metrics")
	for _, want := range []string{`typha_cache_size{syncer="felix"}`, `typha_connections_active `, `typha_snapshot_compressed_bytes{syncer="felix"}`, `typha_connections_dropped{reason="tls"} 1`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if err := c.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
		if c.Err() != nil {
			t.Errorf("SIGTERM: %v", c.Err())
		}
	case <-time.After(15 * time.Second):
		t.Error("calico-typha did not exit within 15 s of SIGTERM")
	}
}

func testLogger(t *testing.T) *slog.Logger { return slog.New(slog.DiscardHandler) }
