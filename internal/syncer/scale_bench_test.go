package syncer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/syncer"
)

// The scale scenario of the foundation issue.
const (
	scaleNamespaces = 100
	scalePods       = 10000
	scalePolicies   = 1000
)

var (
	scaleOnce sync.Once
	scaleLab  *labtest.Lab
	scaleErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if scaleLab != nil {
		scaleLab.Stop()
	}
	os.Exit(code)
}

// populate starts a lab and fills it with the scenario, once per process.
func populate(b *testing.B) *datastore.Client {
	scaleOnce.Do(func() {
		start := time.Now()
		if scaleLab, scaleErr = labtest.Start(io.Discard); scaleErr != nil {
			return
		}
		scaleErr = fill(context.Background(), scaleLab.Client)
		fmt.Fprintf(os.Stderr, "populated %d namespaces, %d pods, %d policies in %v\n", scaleNamespaces, scalePods, scalePolicies, time.Since(start).Round(time.Second))
	})
	if scaleErr != nil {
		b.Fatal(scaleErr)
	}
	return scaleLab.Client
}

func fill(ctx context.Context, c *datastore.Client) error {
	core := c.Kube.CoreV1()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range scaleNamespaces {
		g.Go(func() error {
			_, err := core.Namespaces().Create(gctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("ns-%03d", i), Labels: map[string]string{"team": fmt.Sprintf("t%d", i%7)},
			}}, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Pod creation needs each namespace's default service account.
	deadline := time.Now().Add(2 * time.Minute)
	for i := range scaleNamespaces {
		for {
			if _, err := core.ServiceAccounts(fmt.Sprintf("ns-%03d", i)).Get(ctx, "default", metav1.GetOptions{}); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("service accounts not created in time")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range scalePods {
		g.Go(func() error {
			ns := fmt.Sprintf("ns-%03d", i%scaleNamespaces)
			ip := fmt.Sprintf("10.%d.%d.%d", 64+i/65536, (i/256)%256, i%256)
			_, err := core.Pods(ns).Create(gctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					Name:        fmt.Sprintf("pod-%05d", i),
					Labels:      map[string]string{"app": fmt.Sprintf("app-%d", i%50), "tier": fmt.Sprintf("t%d", i%3)},
					Annotations: map[string]string{v3.AnnotationPodIP: ip + "/32", v3.AnnotationPodIPs: ip + "/32"},
				},
				Spec: corev1.PodSpec{
					NodeName:   fmt.Sprintf("node-%d", i%20),
					Containers: []corev1.Container{{Name: "c", Image: "none", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}}},
				},
			}, metav1.CreateOptions{})
			return err
		})
	}
	gnpKind, _ := v3.KindFor("GlobalNetworkPolicy")
	npKind, _ := v3.KindFor("NetworkPolicy")
	for i := range scalePolicies {
		g.Go(func() error {
			order := float64(i)
			rules := []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: fmt.Sprintf("app == 'app-%d'", (i+1)%50)}}}
			var obj v3.Object
			if i%2 == 0 {
				p := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gnp-%04d", i)},
					Spec: v3.GlobalNetworkPolicySpec{Order: &order, Selector: fmt.Sprintf("app == 'app-%d'", i%50), Ingress: rules}}
				p.GetObjectKind().SetGroupVersionKind(gnpKind.GroupVersionKind())
				obj = p
			} else {
				p := &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("np-%04d", i), Namespace: fmt.Sprintf("ns-%03d", i%scaleNamespaces)},
					Spec: v3.NetworkPolicySpec{Order: &order, Selector: fmt.Sprintf("tier == 't%d'", i%3), Ingress: rules}}
				p.GetObjectKind().SetGroupVersionKind(npKind.GroupVersionKind())
				obj = p
			}
			_, err := c.Create(gctx, obj)
			return err
		})
	}
	return g.Wait()
}

// counter is a consumer that keeps the latest value per key, as Felix's
// calculation graph would.
type counter struct {
	mu     sync.Mutex
	state  map[model.Key]any
	inSync chan struct{}
}

func (c *counter) OnStatusUpdated(s model.SyncStatus) {
	if s == model.InSync {
		close(c.inSync)
	}
}

func (c *counter) OnUpdates(us []model.Update) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range us {
		if u.Value == nil {
			delete(c.state, u.Key)
		} else {
			c.state[u.Key] = u.Value
		}
	}
}

// peakHeap samples the live heap until stop is closed and returns the peak.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// BenchmarkSyncerInitialSync measures a Felix-style syncer's cold start
// against a real API server holding 10,000 pods in 100 namespaces and 1,000
// policies: the time until InSync with every resource delivered, and the
// peak and retained heap of the syncer plus a consumer holding the state.
func BenchmarkSyncerInitialSync(b *testing.B) {
	c := populate(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var syncMS, peakMB, retainedMB float64
	for b.Loop() {
		runtime.GC()
		srcs, err := c.Sources(datastore.FelixKinds, log)
		if err != nil {
			b.Fatal(err)
		}
		cons := &counter{state: map[model.Key]any{}, inSync: make(chan struct{})}
		stop := make(chan struct{})
		peak := peakHeap(stop)
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		ctx, cancel := context.WithCancel(context.Background())
		s := syncer.New(srcs, cons, log)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- s.Run(ctx) }()
		select {
		case <-cons.inSync:
		case <-time.After(5 * time.Minute):
			b.Fatal("not in sync after 5 minutes")
		}
		took := time.Since(start)
		close(stop)
		p := <-peak
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		cons.mu.Lock()
		n := len(cons.state)
		cons.mu.Unlock()
		cancel()
		<-done
		if n < scalePods+scalePolicies+scaleNamespaces {
			b.Fatalf("only %d resources delivered", n)
		}
		syncMS += float64(took.Milliseconds())
		peakMB = max(peakMB, float64(p)/(1<<20))
		retainedMB = float64(after.HeapAlloc) / (1 << 20)
		runtime.KeepAlive(cons)
	}
	b.ReportMetric(syncMS/float64(b.N), "sync-ms")
	b.ReportMetric(peakMB, "peak-heap-MB")
	b.ReportMetric(retainedMB, "retained-heap-MB")
}
