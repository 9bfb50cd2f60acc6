// Command calico-kube-controllers runs the cluster-wide controllers. Today
// that is the node controller's IPAM garbage collection
// (internal/ipamgc): addresses whose pods are gone are released after
// KubeControllersConfiguration's leakGracePeriod (default 15m; 0 turns
// it off), and deleted nodes' addresses and blocks are released at once.
//
// It serves /liveness, /readiness and /metrics on --metrics-addr (default
// :9094, Calico's port).
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/ipamgc"
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
	kind, _ := v3.KindFor("KubeControllersConfiguration")
	if o, err := c.Get(ctx, kind, "", v3.DefaultConfigName); err == nil {
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

	if grace == 0 {
		log.Info("IPAM garbage collection is off (leakGracePeriod 0)")
		agg.Report("ipam-gc", health.Report{Live: true, Ready: true, Detail: "off"})
		<-ctx.Done()
		return 0
	}
	gc, err := ipamgc.New(ipamgc.Config{IPAM: c.IPAM(), Cluster: cluster{c}, GracePeriod: grace,
		Interval: min(period, grace/2), Metrics: reg, Log: log})
	if err != nil {
		log.Error("IPAM garbage collector", "err", err)
		return 1
	}
	log.Info("IPAM garbage collection", "leakGracePeriod", grace, "interval", min(period, grace/2))
	gc.Run(ctx, func(err error) {
		r := health.Report{Live: true, Ready: err == nil}
		if err != nil {
			r.Detail = err.Error()
		}
		agg.Report("ipam-gc", r)
	})
	return 0
}
