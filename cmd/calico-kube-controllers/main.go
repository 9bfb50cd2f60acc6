// Command calico-kube-controllers runs the cluster-wide controllers:
//
//   - the node controller: IPAM garbage collection (internal/ipamgc;
//     addresses whose pods are gone are released after leakGracePeriod,
//     default 15m, 0 turns it off); for a deleted Node, its addresses,
//     blocks and CalicoNodeStatus objects at once (a Node deletion
//     triggers a pass); and, with hostEndpoint.autoCreate Enabled, a
//     <node>-auto-hep HostEndpoint per node (internal/autohep);
//   - the service controller (internal/lbipam): LoadBalancer Services get
//     addresses from pools whose allowedUses include LoadBalancer.
//
// KubeControllersConfiguration "default" says which run and how
// (internal/kcconfig); it is created with the defaults when missing, and
// followed while running: a change restarts the controllers it affects
// with the new settings, and status.runningConfig shows what runs.
// Replicas elect a leader through a Lease (--lease-namespace, default
// kube-system); only the leader works.
//
// It serves /liveness, /readiness and /metrics on --metrics-addr (default
// :9094, Calico's port).
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/kubecontrollers/ipamgc"
	"github.com/calicong/calico/internal/kubecontrollers/kcconfig"
	"github.com/calicong/calico/internal/leader"
)

func main() { os.Exit(run()) }

func run() int {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	addr := flag.String("metrics-addr", ":9094", "address for /metrics, /liveness and /readiness")
	leaseNS := flag.String("lease-namespace", "kube-system", "namespace of the leader-election Lease")
	printVersion := buildinfo.VersionFlag("calico-kube-controllers")
	flag.Parse()
	printVersion()
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
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
	enabledEnv := os.Getenv("ENABLED_CONTROLLERS")
	if _, err := kcconfig.Resolve(kcconfig.DefaultSpec(), enabledEnv); err != nil {
		log.Error("configuration", "err", err)
		return 1
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	agg := health.New(nil)
	gcMetrics, err := ipamgc.NewMetrics(reg)
	if err != nil {
		log.Error("metrics", "err", err)
		return 1
	}
	d := &deps{c: c, agg: agg, log: log, level: level, gcMetrics: gcMetrics}
	go health.Serve(ctx, *addr, agg.WithMetrics(reg), log)

	// Every replica watches the configuration; the leader acts on it.
	follow := newFollower(c, enabledEnv, log)
	go follow.informer.Run(ctx.Done())

	// One replica leads; the others wait, ready to take over.
	agg.Report("controllers", health.Report{Live: true, Ready: true, Detail: "waiting to lead"})
	leader.Run(ctx, c.Kube, *leaseNS, "calico-kube-controllers", log, func(ctx context.Context) { follow.lead(ctx, d) })
	return 0
}
