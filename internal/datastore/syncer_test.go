package datastore_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/poll"
	"github.com/calicong/calico/internal/syncer"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) {
	// Watches are served from etcd so that a compaction really expires a
	// watch (the watch cache would otherwise hide it).
	os.Exit(labtest.Main(m, &testLab, labtest.WithAPIServerArgs("--watch-cache=false")))
}

// recorder is a SyncerCallbacks that keeps the current state and history.
type recorder struct {
	mu       sync.Mutex
	state    map[model.Key]model.KVPair
	statuses []model.SyncStatus
	updates  map[model.Key]int // updates received per key
}

func newRecorder() *recorder {
	return &recorder{state: map[model.Key]model.KVPair{}, updates: map[model.Key]int{}}
}

func (r *recorder) OnStatusUpdated(s model.SyncStatus) {
	r.mu.Lock()
	r.statuses = append(r.statuses, s)
	r.mu.Unlock()
}

func (r *recorder) OnUpdates(us []model.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range us {
		r.updates[u.Key]++
		if u.Value == nil {
			delete(r.state, u.Key)
		} else {
			r.state[u.Key] = u.KVPair
		}
	}
}

func (r *recorder) get(k model.Key) (model.KVPair, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kv, ok := r.state[k]
	return kv, ok
}

func (r *recorder) inSync() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.statuses) > 0 && r.statuses[len(r.statuses)-1] == model.InSync
}

func (r *recorder) updateCount(k model.Key) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.updates[k]
}

func (r *recorder) keys(kind string) map[model.Key]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[model.Key]bool{}
	for k := range r.state {
		if k.Kind == kind {
			out[k] = true
		}
	}
	return out
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startSyncer runs a syncer over the given sources until the test ends.
func startSyncer(t *testing.T, sources []syncer.Source) *recorder {
	t.Helper()
	rec := newRecorder()
	s := syncer.New(sources, rec, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("syncer did not stop within 30s")
		}
	})
	return rec
}

func createNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	_, err := testLab.Client.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = testLab.Client.Kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// Pods can only be created once the service account controller has
	// made the namespace's default account.
	poll.Until(t, 30*time.Second, "default service account in "+name, func() bool {
		_, err := testLab.Client.Kube.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
}

func pod(ns, name, node, ip string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, Labels: labels,
			Annotations: map[string]string{v3.AnnotationPodIP: ip + "/32", v3.AnnotationPodIPs: ip + "/32"},
		},
		Spec: corev1.PodSpec{
			NodeName: node,
			Containers: []corev1.Container{{
				Name: "c", Image: "none",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
			}},
		},
	}
}

func gnp(name, selector string) *v3.GlobalNetworkPolicy {
	p := &v3.GlobalNetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v3.GlobalNetworkPolicySpec{
			Selector: selector,
			Ingress:  []v3.Rule{{Action: v3.Allow}},
		},
	}
	p.GetObjectKind().SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("GlobalNetworkPolicy"))
	return p
}

func felixSources(t *testing.T) []syncer.Source {
	t.Helper()
	srcs, err := testLab.Client.Sources([]string{"Tier", "GlobalNetworkPolicy", "NetworkPolicy", "GlobalNetworkSet"}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return srcs
}

func TestSyncerConvertsAndFollows(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx := context.Background()
	c := testLab.Client
	createNamespace(t, "sync-a", map[string]string{"team": "blue"})
	p, err := labtest.CreatePod(ctx, c.Kube, pod("sync-a", "web-1", "node-1", "10.65.0.5", map[string]string{"app": "web"}))
	if err != nil {
		t.Fatal(err)
	}
	hostNet := pod("sync-a", "hostnet", "node-1", "192.0.2.1", nil)
	hostNet.Spec.HostNetwork = true
	if _, err := labtest.CreatePod(ctx, c.Kube, hostNet); err != nil {
		t.Fatal(err)
	}
	tcp := corev1.ProtocolTCP
	port := intstrFromInt(80)
	if _, err := c.Kube.NetworkingV1().NetworkPolicies("sync-a").Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-web"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
			}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, gnp("sync-gnp", "app == 'web'")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(ctx, mustKind("GlobalNetworkPolicy"), "", "sync-gnp", nil) })

	rec := startSyncer(t, felixSources(t))
	poll.Until(t, 60*time.Second, "in-sync", rec.inSync)
	rec.mu.Lock()
	statuses := append([]model.SyncStatus(nil), rec.statuses...)
	rec.mu.Unlock()
	if fmt.Sprint(statuses) != fmt.Sprint([]model.SyncStatus{model.WaitForDatastore, model.ResyncInProgress, model.InSync}) {
		t.Errorf("status sequence %v, want wait-for-datastore, resync-in-progress, in-sync", statuses)
	}

	// The pod became a workload endpoint with Calico's labels and profiles.
	wepKey := model.Key{Kind: model.KindWorkloadEndpoint, Namespace: "sync-a", Name: "node--1-k8s-web--1-eth0"}
	kv, ok := rec.get(wepKey)
	if !ok {
		t.Fatalf("no workload endpoint %v; have %v", wepKey, rec.keys(model.KindWorkloadEndpoint))
	}
	wep := kv.Value.(*v3.WorkloadEndpoint)
	if got := fmt.Sprint(wep.Spec.IPNetworks); got != "[10.65.0.5/32]" {
		t.Errorf("ipNetworks %s, want [10.65.0.5/32]", got)
	}
	for k, v := range map[string]string{"app": "web", v3.LabelNamespace: "sync-a", v3.LabelOrchestrator: "k8s", v3.LabelServiceAccount: "default"} {
		if wep.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, wep.Labels[k], v)
		}
	}
	if got := fmt.Sprint(wep.Spec.Profiles); got != "[kns.sync-a ksa.sync-a.default]" {
		t.Errorf("profiles %s", got)
	}
	if len(wep.Spec.Ports) != 1 || wep.Spec.Ports[0].Name != "http" || wep.Spec.Ports[0].Port != 80 {
		t.Errorf("named ports %+v, want http/80", wep.Spec.Ports)
	}
	if _, ok := rec.get(model.Key{Kind: model.KindWorkloadEndpoint, Namespace: "sync-a", Name: "node--1-k8s-hostnet-eth0"}); ok {
		t.Error("a host-networked pod became a workload endpoint")
	}

	// Namespace and service account profiles.
	kv, ok = rec.get(model.Key{Kind: model.KindProfile, Name: "kns.sync-a"})
	if !ok {
		t.Fatal("no namespace profile kns.sync-a")
	}
	if got := kv.Value.(*v3.Profile).Spec.LabelsToApply["pcns.team"]; got != "blue" {
		t.Errorf("namespace profile label pcns.team=%q, want blue", got)
	}
	if _, ok := rec.get(model.Key{Kind: model.KindProfile, Name: "ksa.sync-a.default"}); !ok {
		t.Error("no service account profile ksa.sync-a.default")
	}

	// The Kubernetes policy became a Calico policy in tier default, order 1000.
	kv, ok = rec.get(model.Key{Kind: model.KindKubernetesNetworkPolicy, Namespace: "sync-a", Name: "allow-web"})
	if !ok {
		t.Fatal("no converted kubernetes network policy")
	}
	np := kv.Value.(*v3.NetworkPolicy)
	if np.Spec.Tier != "default" || np.Spec.Order == nil || *np.Spec.Order != 1000 {
		t.Errorf("converted policy tier %q order %v, want default 1000", np.Spec.Tier, np.Spec.Order)
	}
	if np.Spec.Selector != "projectcalico.org/orchestrator == 'k8s' && app == 'web'" {
		t.Errorf("converted selector %q", np.Spec.Selector)
	}
	if len(np.Spec.Ingress) != 1 || np.Spec.Ingress[0].Source.NamespaceSelector != "all()" {
		t.Errorf("converted ingress %+v", np.Spec.Ingress)
	}

	// Stored resources arrive defaulted.
	kv, ok = rec.get(model.Key{Kind: "GlobalNetworkPolicy", Name: "sync-gnp"})
	if !ok {
		t.Fatal("no GlobalNetworkPolicy sync-gnp")
	}
	if got := fmt.Sprint(kv.Value.(*v3.GlobalNetworkPolicy).Spec.Types); got != "[Ingress]" {
		t.Errorf("types %s, want [Ingress]", got)
	}
	for _, tier := range []string{"default", "kube-admin", "kube-baseline"} {
		if _, ok := rec.get(model.Key{Kind: "Tier", Name: tier}); !ok {
			t.Errorf("built-in tier %s missing", tier)
		}
	}

	// Live changes follow.
	p.Labels["app"] = "api"
	if _, err := c.Kube.CoreV1().Pods("sync-a").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the label change", func() bool {
		kv, ok := rec.get(wepKey)
		return ok && kv.Value.(*v3.WorkloadEndpoint).Labels["app"] == "api"
	})

	// An invalid resource stored behind the validator's back (before
	// calico-apiserver's webhooks were installed, say) is reported as
	// absent, never half-enforced.
	testLab.WithoutWebhooks(t)
	bad := gnp("sync-bad", "app == ")
	if _, err := c.Create(ctx, bad); err != nil {
		t.Fatalf("the API server itself does not parse selectors, so this must be stored: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(ctx, mustKind("GlobalNetworkPolicy"), "", "sync-bad", nil) })
	if err := c.Delete(ctx, mustKind("GlobalNetworkPolicy"), "", "sync-gnp", nil); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the deletion", func() bool {
		_, ok := rec.get(model.Key{Kind: "GlobalNetworkPolicy", Name: "sync-gnp"})
		return !ok
	})
	if _, ok := rec.get(model.Key{Kind: "GlobalNetworkPolicy", Name: "sync-bad"}); ok {
		t.Error("an invalid policy reached the stream with a value")
	}

	if err := c.Kube.CoreV1().Pods("sync-a").Delete(ctx, "web-1", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the pod deletion", func() bool {
		_, ok := rec.get(wepKey)
		return !ok
	})
}

// gate wraps a ListerWatcher so a test can end the current watch the way a
// server timeout does (a clean close, after which the reflector resumes
// from its last resourceVersion) and hold new watches back until reopened.
// It counts relists: plain lists and watch-lists (sendInitialEvents).
type gate struct {
	cache.ListerWatcher
	mu      sync.Mutex
	open    chan struct{}
	current *proxyWatch
	since   time.Time // when the current watch started
	relists int
}

func newGate(lw cache.ListerWatcher) *gate {
	g := &gate{ListerWatcher: lw, open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gate) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	g.mu.Lock()
	open := g.open
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		g.relists++
	}
	g.mu.Unlock()
	<-open
	w, err := g.ListerWatcher.Watch(opts)
	if err != nil {
		return nil, err
	}
	p := newProxyWatch(w)
	g.mu.Lock()
	g.current, g.since = p, time.Now()
	g.mu.Unlock()
	return p, nil
}

func (g *gate) List(opts metav1.ListOptions) (runtime.Object, error) {
	g.mu.Lock()
	g.relists++
	g.mu.Unlock()
	return g.ListerWatcher.List(opts)
}

// watchAge is how long the current watch has been open.
func (g *gate) watchAge() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.current == nil {
		return 0
	}
	return time.Since(g.since)
}

func (g *gate) relistCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.relists
}

// cut ends the current watch cleanly and holds back new ones until reopen.
func (g *gate) cut() {
	g.mu.Lock()
	g.open = make(chan struct{})
	cur := g.current
	g.mu.Unlock()
	if cur != nil {
		cur.Stop()
	}
}

func (g *gate) reopen() {
	g.mu.Lock()
	close(g.open)
	g.mu.Unlock()
}

// proxyWatch forwards a watch's events until stopped, then closes its
// channel without an error, as the API server does at a watch timeout.
type proxyWatch struct {
	inner watch.Interface
	out   chan watch.Event
	stop  chan struct{}
	once  sync.Once
}

func newProxyWatch(inner watch.Interface) *proxyWatch {
	p := &proxyWatch{inner: inner, out: make(chan watch.Event), stop: make(chan struct{})}
	go func() {
		defer close(p.out)
		defer inner.Stop()
		for {
			select {
			case <-p.stop:
				return
			case ev, ok := <-inner.ResultChan():
				if !ok {
					return
				}
				select {
				case p.out <- ev:
				case <-p.stop:
					return
				}
			}
		}
	}()
	return p
}

func (p *proxyWatch) ResultChan() <-chan watch.Event { return p.out }
func (p *proxyWatch) Stop()                          { p.once.Do(func() { close(p.stop) }) }

func TestSyncerRelistsAfterWatchExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx := context.Background()
	c := testLab.Client
	kind := mustKind("GlobalNetworkSet")
	mk := func(name string) {
		t.Helper()
		gns := &v3.GlobalNetworkSet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.GlobalNetworkSetSpec{Nets: []string{"192.0.2.0/24"}}}
		gns.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
		if _, err := c.Create(ctx, gns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), kind, "", name, nil) })
	}
	mk("expiry-keep")
	mk("expiry-gone")

	g := newGate(c.ListWatch(kind, ""))
	rec := startSyncer(t, []syncer.Source{{Name: "gns", ListWatch: g, Example: kind.New(), Convert: mustSources(t)["globalnetworksets"].Convert}})
	poll.Until(t, 60*time.Second, "in-sync", rec.inSync)
	keep := model.Key{Kind: "GlobalNetworkSet", Name: "expiry-keep"}
	gone := model.Key{Kind: "GlobalNetworkSet", Name: "expiry-gone"}
	if _, ok := rec.get(gone); !ok {
		t.Fatal("expiry-gone missing before the partition")
	}
	keepUpdates := rec.updateCount(keep)
	relistsBefore := g.relistCount()

	// While the watch is cut: one set vanishes, one appears, and etcd
	// compacts its history, so resuming the watch gets 410 Gone. (A watch
	// that ends within a second of starting makes the reflector relist
	// anyway; let it age first so that only the expiry can cause a relist.)
	poll.Until(t, 10*time.Second, "the watch to be established for over a second", func() bool { return g.watchAge() > 1100*time.Millisecond })
	g.cut()
	if err := c.Delete(ctx, kind, "", "expiry-gone", nil); err != nil {
		t.Fatal(err)
	}
	mk("expiry-new")
	compactEtcd(t)
	g.reopen()

	poll.Until(t, 60*time.Second, "the relist to converge", func() bool {
		_, hasGone := rec.get(gone)
		_, hasNew := rec.get(model.Key{Kind: "GlobalNetworkSet", Name: "expiry-new"})
		return !hasGone && hasNew
	})
	if g.relistCount() == relistsBefore {
		t.Error("the syncer converged without relisting: the watch did not expire as intended")
	}
	if n := rec.updateCount(keep); n != keepUpdates {
		t.Errorf("an unchanged resource was sent again by the relist (%d updates, want %d)", n, keepUpdates)
	}
}

func TestSyncerSurvivesAPIServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx := context.Background()
	c := testLab.Client
	kind := mustKind("GlobalNetworkSet")
	for i := range 20 {
		name := fmt.Sprintf("restart-%02d", i)
		gns := &v3.GlobalNetworkSet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.GlobalNetworkSetSpec{Nets: []string{"198.51.100.0/24"}}}
		gns.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
		if _, err := c.Create(ctx, gns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), kind, "", name, nil) })
	}
	rec := startSyncer(t, felixSources(t))
	poll.Until(t, 60*time.Second, "in-sync", rec.inSync)
	before := map[model.Key]int{}
	for k := range rec.keys("GlobalNetworkSet") {
		before[k] = rec.updateCount(k)
	}

	pid := componentPID(t, "kube-apiserver")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 90*time.Second, "the API server to come back", func() bool {
		_, err := c.Kube.Discovery().ServerVersion()
		return err == nil && componentPID(t, "kube-apiserver") != pid
	})
	// A change after the restart arrives; nothing unchanged is resent.
	if err := c.Delete(ctx, kind, "", "restart-00", nil); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 60*time.Second, "the post-restart deletion", func() bool {
		_, ok := rec.get(model.Key{Kind: "GlobalNetworkSet", Name: "restart-00"})
		return !ok
	})
	for k, n := range before {
		if k.Name == "restart-00" {
			continue
		}
		if _, ok := rec.get(k); !ok {
			t.Errorf("%v lost across the restart", k)
		}
		if got := rec.updateCount(k); got != n {
			t.Errorf("%v sent %d more time(s) after the restart", k, got-n)
		}
	}
}

func compactEtcd(t *testing.T) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{testLab.Config.EtcdURL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "compaction-probe")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
}
