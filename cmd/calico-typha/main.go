// Command calico-typha sits between the Kubernetes API and every
// calico-node: it runs one syncer per syncer type ("felix" and "bgp"),
// keeps their state in a cache with every update encoded once
// (internal/typha/snapcache), and serves it to Felix and confd clients on
// port 5473 (internal/typha/server): a shared compressed snapshot, then
// the deltas each client follows at its own pace.
//
// Configuration is Calico's TYPHA_* environment (see config.go): mutual TLS
// with TYPHA_CAFILE, TYPHA_SERVERCERTFILE, TYPHA_SERVERKEYFILE and
// TYPHA_CLIENTCN / TYPHA_CLIENTURISAN; connection limits and rebalancing
// (TYPHA_CONNECTIONREBALANCINGMODE=kubernetes computes the limit from the
// number of nodes and of Typha endpoints every 30 s). /liveness and
// /readiness are served on :9098, Prometheus metrics on :9093 when
// TYPHA_PROMETHEUSMETRICSENABLED=true. On SIGTERM, connections are shed
// gradually over TYPHA_SHUTDOWNTIMEOUTSECS.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/syncer"
	"github.com/calicong/calico/internal/typha/discovery"
	"github.com/calicong/calico/internal/typha/server"
	"github.com/calicong/calico/internal/typha/snapcache"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

func main() { os.Exit(run()) }

func run() int {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (in-cluster config when empty)")
	printVersion := buildinfo.VersionFlag("calico-typha")
	flag.Parse()
	printVersion()
	cfg, err := parseConfig(os.Getenv)
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err != nil {
		log.Error("invalid configuration", "err", err)
		return 1
	}
	if err := serveTypha(cfg, *kubeconfig, log); err != nil {
		log.Error("calico-typha failed", "err", err)
		return 1
	}
	return 0
}

func serveTypha(cfg config, kubeconfig string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, err := datastore.Connect(kubeconfig)
	if err != nil {
		return err
	}
	var srvTLS *tls.Config
	if cfg.tls() {
		srvTLS, err = tlsauth.Server(tlsauth.Files{CAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile},
			tlsauth.Identity{CN: cfg.ClientCN, URISAN: cfg.ClientURISAN})
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cacheMetrics, err := snapcache.NewMetrics(reg)
	if err != nil {
		return err
	}
	srvMetrics, err := server.NewMetrics(reg)
	if err != nil {
		return err
	}
	limitGauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "typha_connections_max", Help: "The current connection limit."})
	reg.MustRegister(limitGauge)
	agg := health.New(nil)

	host, _ := os.Hostname()
	caches := map[string]*snapcache.Cache{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, st := range []string{datastore.SyncerFelix, datastore.SyncerBGP} {
		srcs, err := client.SyncerSources(st, log)
		if err != nil {
			return err
		}
		cache := snapcache.New(snapcache.Config{SyncerType: st, MaxBatch: cfg.MaxBatch, Metrics: cacheMetrics, Log: log.With("syncer", st)})
		caches[st] = cache
		name := "syncer-" + st
		agg.Report(name, health.Report{Live: true, Detail: "waiting for the datastore"})
		s := syncer.New(srcs, model.Tee(cache, statusReporter{agg: agg, name: name}), log.With("syncer", st))
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Run(ctx)
		}()
	}

	var limit atomic.Int64
	limit.Store(int64(cfg.UpperLimit))
	limitGauge.Set(float64(cfg.UpperLimit))
	if cfg.Rebalancing == "kubernetes" {
		disc := discovery.Config{Kube: client.Kube, Namespace: cfg.Namespace, Service: cfg.ServiceName}
		computed := false
		update := func() {
			n, err := computeLimit(ctx, client, disc, len(caches), server.Limits{Lower: cfg.LowerLimit, Upper: cfg.UpperLimit})
			if err != nil {
				log.Warn("cannot compute the connection limit; keeping it", "limit", limit.Load(), "err", err)
				return
			}
			if old := limit.Swap(int64(n)); old != int64(n) || !computed {
				log.Info("connection limit", "max", n)
			}
			computed = true
			limitGauge.Set(float64(n))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(cfg.PollInterval)
			defer t.Stop()
			for update(); ; {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					update()
				}
			}
		}()
	}

	srv := server.New(server.Config{
		Caches: caches, TLS: srvTLS, Name: host,
		MaxConns:         func() int { return int(limit.Load()) },
		HandshakeTimeout: cfg.HandshakeTimeout, PingInterval: cfg.PingInterval, PongTimeout: cfg.PongTimeout,
		MaxFallBehind: cfg.MaxFallBehind, ShutdownTimeout: cfg.ShutdownTimeout,
		Metrics: srvMetrics, Log: log,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	log.Info("calico-typha serving", "addr", ln.Addr().String(), "tls", cfg.tls(), "version", buildinfo.Version)
	if cfg.HealthAddr != "" {
		go health.Serve(ctx, cfg.HealthAddr, agg.Handler(), log)
	}
	if cfg.MetricsAddr != "" {
		go health.Serve(ctx, cfg.MetricsAddr, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), log)
	}
	return srv.Serve(ctx, ln)
}

// computeLimit counts nodes and Typha endpoints and applies the formula.
func computeLimit(ctx context.Context, c *datastore.Client, disc discovery.Config, syncerTypes int, l server.Limits) (int, error) {
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return 0, fmt.Errorf("counting nodes: %w", err)
	}
	eps, err := disc.Endpoints(ctx)
	if err != nil {
		// No endpoints yet (this replica not ready): behave as the only one.
		eps = nil
	}
	return server.MaxConnections(syncerTypes, len(nodes.Items), max(len(eps), 1), l), nil
}

// statusReporter turns a syncer's status into health: ready once in sync.
type statusReporter struct {
	agg  *health.Aggregator
	name string
}

func (r statusReporter) OnUpdates([]model.Update) {}
func (r statusReporter) OnStatusUpdated(s model.SyncStatus) {
	r.agg.Report(r.name, health.Report{Live: true, Ready: s == model.InSync, Detail: s.String()})
}
