// Command calico-kube-controllers runs the cluster-wide controllers. Today
// that is the node controller: IPAM garbage collection (internal/ipamgc;
// addresses whose pods are gone are released after
// KubeControllersConfiguration's leakGracePeriod, default 15m, 0 turns it
// off) and, for a deleted Node, its addresses, blocks and CalicoNodeStatus
// objects (at once: a Node deletion triggers a pass); and the service
// controller (internal/lbipam): LoadBalancer Services get addresses from
// pools whose allowedUses include LoadBalancer. Replicas elect a
// leader through a Lease (--lease-namespace, default kube-system); only
// the leader works.
//
// It serves /liveness, /readiness and /metrics on --metrics-addr (default
// :9094, Calico's port).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/ipamgc"
	"github.com/calicong/calico/internal/lbipam"
	"github.com/calicong/calico/internal/nodecleanup"
)

func main() { os.Exit(run()) }

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

func run() int {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	addr := flag.String("metrics-addr", ":9094", "address for /metrics, /liveness and /readiness")
	leaseNS := flag.String("lease-namespace", "kube-system", "namespace of the leader-election Lease")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := datastore.LoadConfig(*kubeconfig)
	if err != nil {
		log.Error("kubeconfig", "err", err)
		return 1
	}
	c, err := datastore.New(cfg)
	if err != nil {
		log.Error("client", "err", err)
		return 1
	}
	grace, period := 15*time.Minute, 5*time.Minute
	assignIPs := v3.AllServices
	kind, _ := v3.KindFor("KubeControllersConfiguration")
	if o, err := c.Get(ctx, kind, "", v3.DefaultConfigName); err == nil {
		if lb := o.(*v3.KubeControllersConfiguration).Spec.Controllers.LoadBalancer; lb != nil && lb.AssignIPs != "" {
			assignIPs = lb.AssignIPs
		}
		if n := o.(*v3.KubeControllersConfiguration).Spec.Controllers.Node; n != nil {
			if n.LeakGracePeriod != nil {
				grace = n.LeakGracePeriod.Duration
			}
			if n.ReconcilerPeriod != nil && n.ReconcilerPeriod.Duration > 0 {
				period = n.ReconcilerPeriod.Duration
			}
		}
	} else if !datastore.IsNotFound(err) {
		log.Warn("reading KubeControllersConfiguration; using defaults", "err", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	agg := health.New(nil)
	agg.Register("ipam-gc", 3*period)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", agg.Handler())
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP endpoint failed", "addr", *addr, "err", err)
		}
	}()

	// The node controller: a deleted Node's addresses and blocks (the
	// IPAM garbage collector) and its CalicoNodeStatus objects are
	// cleaned up; a Node deletion triggers a pass at once.
	trigger := make(chan struct{}, 1)
	nodeInformer := cache.NewSharedIndexInformer(cache.NewListWatchFromClient(c.Kube.CoreV1().RESTClient(), "nodes", "", fields.Everything()),
		&corev1.Node{}, 0, cache.Indexers{})
	if _, err := nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(any) {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}}); err != nil {
		log.Error("node informer", "err", err)
		return 1
	}
	afterPass := func(ctx context.Context, nodes map[string]bool) {
		deleted, err := nodecleanup.Clean(ctx, c, nodes)
		if err != nil {
			log.Warn("cleaning up after deleted nodes", "err", err)
		}
		for _, d := range deleted {
			log.Info("deleted the CalicoNodeStatus of a deleted node", "name", d)
		}
	}
	controllers := func(ctx context.Context) {
		go nodeInformer.Run(ctx.Done())
		// The service controller: LoadBalancer addresses.
		go lbipam.New(lbipam.Config{Kube: c.Kube, IPAM: c.IPAM(), AssignIPs: assignIPs, Log: log.With("controller", "loadbalancer")}).Run(ctx)
		if grace == 0 {
			log.Info("IPAM garbage collection is off (leakGracePeriod 0); deleted nodes' status objects are still cleaned up")
			agg.Report("ipam-gc", health.Report{Live: true, Ready: true, Detail: "off"})
			for {
				select {
				case <-ctx.Done():
					return
				case <-trigger:
				case <-time.After(period):
				}
				if nodes, err := (cluster{c}).Nodes(ctx); err == nil {
					afterPass(ctx, nodes)
				}
			}
		}
		gc, err := ipamgc.New(ipamgc.Config{IPAM: c.IPAM(), Cluster: cluster{c}, GracePeriod: grace,
			Interval: min(period, grace/2), Metrics: reg, Log: log, Trigger: trigger, AfterPass: afterPass})
		if err != nil {
			log.Error("IPAM garbage collector", "err", err)
			return
		}
		log.Info("IPAM garbage collection", "leakGracePeriod", grace, "interval", min(period, grace/2))
		gc.Run(ctx, func(err error) {
			r := health.Report{Live: true, Ready: err == nil}
			if err != nil {
				r.Detail = err.Error()
			}
			agg.Report("ipam-gc", r)
		})
	}

	// One replica leads; the others wait, ready to take over.
	host, _ := os.Hostname()
	id := fmt.Sprintf("%s_%d", host, os.Getpid())
	lock := &resourcelock.LeaseLock{LeaseMeta: metav1.ObjectMeta{Namespace: *leaseNS, Name: "calico-kube-controllers"},
		Client: c.Kube.CoordinationV1(), LockConfig: resourcelock.ResourceLockConfig{Identity: id}}
	agg.Report("ipam-gc", health.Report{Live: true, Ready: true, Detail: "waiting to lead"})
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("leading", "identity", id)
				controllers(ctx)
			},
			OnStoppedLeading: func() { log.Info("no longer leading", "identity", id) },
			OnNewLeader: func(l string) {
				if l != id {
					log.Info("another replica leads", "leader", l)
				}
			},
		},
	})
	return 0
}
