// Command calico-node is the per-node agent: start-up (node address,
// annotations, default IP pool), then Felix (policy engine and nftables
// dataplane, workload routes), with health and Prometheus endpoints, and
// CalicoNodeStatus reporting.
//
// Configuration is Calico's: NODENAME, IP, IP_AUTODETECTION_METHOD,
// CALICO_IPV4POOL_*, NO_DEFAULT_POOLS, KUBECONFIG, and FELIX_* variables,
// which override FelixConfiguration. With FELIX_TYPHAK8SSERVICENAME or
// FELIX_TYPHAADDR set, Felix and confd read the datastore through Typha
// (typha.go) instead of watching the API server. Exit code 129 means "the
// configuration changed: start me again". `-felix` is accepted and changes
// nothing: upstream's image runs `calico-node -felix`, and upstream's
// `calicoctl node status` looks for that process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/felixconfig"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/dnslogs"
	"github.com/calicong/calico/internal/node/dnsqueue"
	"github.com/calicong/calico/internal/node/dnssnoop"
	"github.com/calicong/calico/internal/node/felix"
	"github.com/calicong/calico/internal/node/flowlogs/lookup"
	"github.com/calicong/calico/internal/node/ipipcheck"
	"github.com/calicong/calico/internal/node/startup"
	"github.com/calicong/calico/internal/syncer"
)

func main() { os.Exit(run()) }

func run() int {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	startupOnly := flag.Bool("startup", false, "run start-up only, then exit")
	// Upstream's image runs `calico-node -felix`, and upstream's `calicoctl
	// node status` looks for that process; this calico-node runs start-up,
	// Felix and BGP in one process whether or not it is given.
	_ = flag.Bool("felix", false, "run the node agent (the default; accepted as upstream's calico-node -felix is named)")
	printVersion := buildinfo.VersionFlag("calico-node")
	flag.Parse()
	printVersion()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(os.Getenv("FELIX_LOGSEVERITYSCREEN"))}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runNode(ctx, *kubeconfig, *startupOnly, log); err != nil {
		if errors.Is(err, felix.ErrConfigChanged) {
			log.Info(err.Error())
			return 129
		}
		log.Error("calico-node failed", "err", err)
		return 1
	}
	return 0
}

func logLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warning", "warn":
		return slog.LevelWarn
	case "error", "fatal", "panic":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// runNode runs start-up, then the node's parts until ctx ends: health and
// metrics endpoints, the dataplane, routing between nodes (bgp.go), the
// CNI plugins' token (cnitoken.go), the tunnel address and
// CalicoNodeStatus (status.go), and Felix reading the datastore directly
// or through Typha (typha.go).
func runNode(ctx context.Context, kubeconfig string, startupOnly bool, log *slog.Logger) error {
	backend, err := networkingBackend()
	if err != nil {
		return err
	}
	scfg, err := startup.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	client, err := datastore.Connect(kubeconfig)
	if err != nil {
		return err
	}
	res, err := startup.Run(ctx, scfg, client, log)
	if err != nil {
		return fmt.Errorf("start-up: %w", err)
	}
	if startupOnly {
		return nil
	}
	fc, err := firstFelixConfig(ctx, client, res.NodeName)
	if err != nil {
		return err
	}
	agg, reg := serveHealthAndMetrics(ctx, fc, log)
	repairs, err := felix.NewRepairs(reg, log)
	if err != nil {
		return err
	}
	dp, rm, err := newDataplane(fc, res.NodeName, repairs, log)
	if err != nil {
		return err
	}
	if err := startCNITokenRefresh(ctx, os.Getenv, client.Kube, log); err != nil {
		return err
	}
	typha, err := typhaFromEnv(os.Getenv, client.Kube, res.NodeName)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	routing, err := startRouting(ctx, backend, client, res.NodeName, agg, reg, log)
	if err != nil {
		return err
	}
	// Felix's stream also feeds the tunnel address allocator and the pool
	// checks; routing.consumer, when BGP runs, takes the BGP syncer's.
	pools := ipipcheck.New(agg)
	capture := newPacketCapture(fc, res.NodeName, client, reg, log)
	consumers := []model.SyncerCallbacks{startTunnelAddress(ctx, client, res.NodeName, log), pools, capture}
	// Flow logs and DNS logs name endpoints from one index of them.
	var index *lookup.Index
	if flowLogsEnabled(fc) || dnsLogsEnabled(fc) {
		index = lookup.NewIndex()
		consumers = append(consumers, index)
	}
	var flows *flowLogs
	if flowLogsEnabled(fc) {
		flows = newFlowLogs(index)
	}
	// The names DNS answers gave addresses, for flows' dest_domains.
	names := dnslogs.NewNames(0, 2*flowLogsInterval(fc))
	startNodeStatus(ctx, client, res.NodeName, routing.birdSocket, rm, pools, log)
	kicks := make(chan struct{}, 1)
	go watchLinks(ctx, felix.InterfacePrefixes(fc.Spec), rm, kicks, log)
	dns := dnsQueueConfig(fc, reg, log)
	if err := dnsqueue.Install(ctx, dns); err != nil {
		// Domain rules then allow nothing (their sets stay empty).
		log.Error("cannot read DNS answers; domain-based policy allows nothing", "err", err)
		dns.Mark = 0
	}
	f, err := felix.New(felix.Config{
		NodeName: res.NodeName, Felix: fc, Dataplane: dp, Kicks: kicks, Health: agg, Metrics: reg,
		Env: os.Environ(), Log: log, DNSMark: dns.Mark,
		NewSource: func(cb model.SyncerCallbacks) (felix.Source, error) {
			return felixSource(client, typha, res.NodeName, append([]model.SyncerCallbacks{cb}, consumers...), routing.consumer, log)
		},
	})
	if err != nil {
		return err
	}
	if flows != nil {
		if err := flows.start(ctx, fc, res.NodeName, client, f, names, reg, log); err != nil {
			return err
		}
	}
	if err := capture.start(ctx, client, log); err != nil {
		return err
	}
	var dnsLog *dnsLogs
	if dns.Mark != 0 && dnsLogsEnabled(fc) {
		if dnsLog, err = startDNSLogs(ctx, fc, res.NodeName, index, log); err != nil {
			return err
		}
	}
	dns.Observe = func(r dnssnoop.Response, at time.Time) {
		names.Observe(r, at)
		if dnsLog != nil {
			dnsLog.observe(r, at)
		}
	}
	if dns.Mark != 0 {
		go func() {
			if err := dnsqueue.Run(ctx, dns, f); err != nil {
				log.Error("reading DNS answers stopped; domain sets learn no more", "err", err)
			}
		}()
	}
	err = f.Run(ctx)
	// BIRD is stopped before calico-node exits: for a graceful restart
	// (peers keep this node's routes), or with CALICO_BGP_SHUTDOWN=withdraw
	// so that they drop them.
	cancel()
	routing.wait()
	if flows != nil {
		flows.wait() // the last interval's records are written
	}
	if dnsLog != nil {
		dnsLog.wait()
	}
	return err
}

// dnsQueueConfig is how DNS answers reach domain-based policy
// (docs/dns-policy.md).
func dnsQueueConfig(fc *felixconfig.Config, reg prometheus.Registerer, log *slog.Logger) dnsqueue.Config {
	c := dnsqueue.Config{Queue: felix.DNSQueue, Mark: felix.DNSMark, Mode: "DelayDNSResponse", Latency: felix.DNSLatency(fc.Spec), Metrics: reg, Log: log}
	if m := fc.Spec.DNSPolicyMode; m != nil {
		c.Mode = *m
	}
	return c
}

// firstFelixConfig reads the FelixConfiguration the node starts with.
func firstFelixConfig(ctx context.Context, client *datastore.Client, node string) (*felixconfig.Config, error) {
	fcKind, _ := v3.KindFor("FelixConfiguration")
	return felix.FirstConfig(func(name string) (*v3.FelixConfiguration, error) {
		obj, err := client.Get(ctx, fcKind, "", name)
		if datastore.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return obj.(*v3.FelixConfiguration), nil
	}, node, os.Environ())
}

// serveHealthAndMetrics starts /liveness and /readiness and the
// Prometheus endpoint when Felix's configuration enables them; reg is nil
// without metrics.
func serveHealthAndMetrics(ctx context.Context, fc *felixconfig.Config, log *slog.Logger) (*health.Aggregator, prometheus.Registerer) {
	agg := health.New(nil)
	if b := fc.Spec.HealthEnabled; b != nil && *b {
		addr := net.JoinHostPort(*fc.Spec.HealthHost, strconv.Itoa(*fc.Spec.HealthPort))
		go health.Serve(ctx, addr, agg.Handler(), log)
	}
	b := fc.Spec.PrometheusMetricsEnabled
	if b == nil || !*b {
		return agg, nil
	}
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	addr := net.JoinHostPort("", strconv.Itoa(*fc.Spec.PrometheusMetricsPort))
	go health.Serve(ctx, addr, promhttp.HandlerFor(r, promhttp.HandlerOpts{}), log)
	return agg, r
}

// felixSource is the datastore stream for Felix and the consumers that
// share it (felixCBs), and for BGP (bgp, nil without BIRD): through Typha
// (Felix's syncer type, and BGP's) or straight from the API server.
func felixSource(client *datastore.Client, typha *typhaSettings, node string, felixCBs []model.SyncerCallbacks, bgp model.SyncerCallbacks, log *slog.Logger) (felix.Source, error) {
	if typha != nil {
		ss := sources{typha.newClient(datastore.SyncerFelix, node, model.Tee(felixCBs...), log)}
		if bgp != nil {
			ss = append(ss, typha.newClient(datastore.SyncerBGP, node, bgp, log))
		}
		return ss, nil
	}
	kinds := slices.Clone(datastore.FelixKinds)
	if bgp != nil {
		kinds = append(kinds, datastore.BGPKinds...)
		felixCBs = append(felixCBs, bgp)
	}
	slices.Sort(kinds)
	srcs, err := client.Sources(slices.Compact(kinds), log)
	if err != nil {
		return nil, err
	}
	return syncer.New(srcs, model.Tee(felixCBs...), log), nil
}
