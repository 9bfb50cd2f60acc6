package main

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/kubecontrollers/autohep"
	"github.com/calicong/calico/internal/kubecontrollers/ipamgc"
	"github.com/calicong/calico/internal/kubecontrollers/kcconfig"
	"github.com/calicong/calico/internal/kubecontrollers/lbipam"
	"github.com/calicong/calico/internal/kubecontrollers/nodecleanup"
)

// deps are what every run of the controllers shares.
type deps struct {
	c     *datastore.Client
	agg   *health.Aggregator
	log   *slog.Logger
	level *slog.LevelVar
	// gcMetrics are the garbage collector's metrics, kept across runs.
	gcMetrics *ipamgc.Metrics
}

// runControllers runs the controllers the settings enable until ctx ends,
// and returns when all of them have stopped.
func runControllers(ctx context.Context, d *deps, s kcconfig.Settings) {
	d.level.Set(logLevel(s.LogSeverity))
	var wg sync.WaitGroup
	defer wg.Wait()
	if l := s.LoadBalancer; l != nil {
		wg.Go(func() {
			lbipam.New(lbipam.Config{Kube: d.c.Kube, IPAM: d.c.IPAM(), AssignIPs: l.AssignIPs, Log: d.log.With("controller", "loadbalancer")}).Run(ctx)
		})
	}
	if n := s.Node; n != nil {
		wg.Go(func() { runNodeController(ctx, d, *n) })
	} else {
		d.agg.Report("ipam-gc", health.Report{Live: true, Ready: true, Detail: "node controller disabled"})
	}
	d.agg.Report("controllers", health.Report{Live: true, Ready: true, Detail: "leading"})
	<-ctx.Done()
}

// runNodeController is the node controller: IPAM garbage collection, the
// clean-up after deleted nodes, and automatic host endpoints.
func runNodeController(ctx context.Context, d *deps, n kcconfig.Node) {
	log := d.log.With("controller", "node")
	var wg sync.WaitGroup
	defer wg.Wait()
	// A Node deletion triggers a garbage-collection pass at once; any
	// change to a Node, an automatic host endpoint pass.
	gcTrigger := make(chan struct{}, 1)
	hepTrigger := make(chan struct{}, 1)
	poke := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	nodes := cache.NewSharedIndexInformer(cache.NewListWatchFromClient(d.c.Kube.CoreV1().RESTClient(), "nodes", "", fields.Everything()),
		&corev1.Node{}, 0, cache.Indexers{})
	if _, err := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { poke(hepTrigger) },
		UpdateFunc: func(old, cur any) {
			// Heartbeats change only status conditions: no pass for them.
			if a, b := old.(*corev1.Node), cur.(*corev1.Node); !reflect.DeepEqual(a.Labels, b.Labels) ||
				!reflect.DeepEqual(a.Annotations, b.Annotations) || !reflect.DeepEqual(a.Status.Addresses, b.Status.Addresses) {
				poke(hepTrigger)
			}
		},
		DeleteFunc: func(any) { poke(gcTrigger); poke(hepTrigger) },
	}); err != nil {
		log.Error("node informer", "err", err)
		return
	}
	wg.Go(func() { nodes.Run(ctx.Done()) })
	if !cache.WaitForCacheSync(ctx.Done(), nodes.HasSynced) {
		return
	}
	wg.Go(func() { runAutoHostEndpoints(ctx, d, n, nodes.GetStore(), hepTrigger, log) })

	afterPass := func(ctx context.Context, live map[string]bool) {
		deleted, err := nodecleanup.Clean(ctx, d.c, live)
		if err != nil {
			log.Warn("cleaning up after deleted nodes", "err", err)
		}
		for _, name := range deleted {
			log.Info("deleted the CalicoNodeStatus of a deleted node", "name", name)
		}
	}
	d.agg.Register("ipam-gc", 3*n.ReconcilerPeriod)
	if n.LeakGracePeriod == 0 {
		log.Info("IPAM garbage collection is off (leakGracePeriod 0); deleted nodes' status objects are still cleaned up")
		d.agg.Report("ipam-gc", health.Report{Live: true, Ready: true, Detail: "off"})
		for {
			select {
			case <-ctx.Done():
				return
			case <-gcTrigger:
			case <-time.After(n.ReconcilerPeriod):
			}
			if live, err := (cluster{d.c}).Nodes(ctx); err == nil {
				afterPass(ctx, live)
			}
			d.agg.Report("ipam-gc", health.Report{Live: true, Ready: true, Detail: "off"})
		}
	}
	interval := min(n.ReconcilerPeriod, n.LeakGracePeriod/2)
	gc, err := ipamgc.New(ipamgc.Config{IPAM: d.c.IPAM(), Cluster: cluster{d.c}, GracePeriod: n.LeakGracePeriod,
		Interval: interval, Metrics: d.gcMetrics, Log: d.log, Trigger: gcTrigger, AfterPass: afterPass})
	if err != nil {
		log.Error("IPAM garbage collector", "err", err)
		return
	}
	log.Info("IPAM garbage collection", "leakGracePeriod", n.LeakGracePeriod, "interval", interval)
	gc.Run(ctx, func(err error) {
		r := health.Report{Live: true, Ready: err == nil}
		if err != nil {
			r.Detail = err.Error()
		}
		d.agg.Report("ipam-gc", r)
	})
}

// runAutoHostEndpoints keeps the automatic host endpoints matching the
// nodes: on every Node change, and every reconciler period. With
// autoCreate off it removes any left from before.
func runAutoHostEndpoints(ctx context.Context, d *deps, n kcconfig.Node, store cache.Store, trigger <-chan struct{}, log *slog.Logger) {
	pass := func() {
		var list []*v3.Node
		for _, o := range store.List() {
			list = append(list, conversion.Node(o.(*corev1.Node)))
		}
		ch, err := autohep.Reconcile(ctx, d.c, list, n.AutoHostEndpoints)
		if err != nil && ctx.Err() == nil {
			log.Warn("automatic host endpoints", "err", err)
		}
		for _, name := range ch.Created {
			log.Info("created automatic host endpoint", "name", name)
		}
		for _, name := range ch.Updated {
			log.Info("updated automatic host endpoint", "name", name)
		}
		for _, name := range ch.Deleted {
			log.Info("deleted automatic host endpoint", "name", name)
		}
	}
	pass()
	for {
		select {
		case <-ctx.Done():
			return
		case <-trigger:
		case <-time.After(n.ReconcilerPeriod):
		}
		pass()
	}
}

func logLevel(severity string) slog.Level {
	switch severity {
	case "Debug":
		return slog.LevelDebug
	case "Warning":
		return slog.LevelWarn
	case "Error", "Fatal", "Panic":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// cluster lists pods and nodes from the API server.
type cluster struct{ c *datastore.Client }

func (k cluster) Pods(ctx context.Context) ([]ipam.Pod, error) {
	l, err := k.c.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	return conversion.IPAMPods(l.Items), nil
}

func (k cluster) Nodes(ctx context.Context) (map[string]bool, error) {
	l, err := k.c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(l.Items))
	for _, n := range l.Items {
		out[n.Name] = true
	}
	return out, nil
}
