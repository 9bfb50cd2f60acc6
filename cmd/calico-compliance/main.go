// Command calico-compliance is compliance reporting's components, one
// subcommand each, each deployable on its own (docs/compliance.md):
//
//	calico-compliance snapshotter   lists the configuration reports
//	                                replay and writes it to Linseed when
//	                                it changed
//
// Environment (snapshotter):
//
//	KUBECONFIG       the cluster (in-cluster config when unset)
//	LINSEED_URL, LINSEED_CA, LINSEED_CLIENT_CERT, LINSEED_CLIENT_KEY,
//	LINSEED_TOKEN    Linseed, and this component's identity towards it
//	CLUSTER_ID       the cluster's name in Linseed (cluster)
//	SNAPSHOT_PERIOD  how often snapshots are taken (1h)
//	HEALTH_LISTEN    /liveness, /readiness and /metrics (:9099)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/dynamic"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/compliance/snapshotter"
	"github.com/calicong/calico/internal/daemon"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/linseed/client"
)

var commands = map[string]func(ctx context.Context, log *slog.Logger) error{
	"snapshotter": runSnapshotter,
}

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(buildinfo.Version)
		return
	}
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: calico-compliance snapshotter")
		os.Exit(2)
	}
	name := os.Args[1]
	os.Args = append(os.Args[:1], os.Args[2:]...)
	daemon.Main("calico-compliance "+name, commands[name])
}

func runSnapshotter(ctx context.Context, log *slog.Logger) error {
	period, err := time.ParseDuration(daemon.Env("SNAPSHOT_PERIOD", "1h"))
	if err != nil || period <= 0 {
		return fmt.Errorf("SNAPSHOT_PERIOD %q: a positive duration such as 1h", os.Getenv("SNAPSHOT_PERIOD"))
	}
	rc, err := datastore.LoadConfig(os.Getenv("KUBECONFIG"))
	if err != nil {
		return fmt.Errorf("reading KUBECONFIG: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	ls, err := client.FromEnv(client.Files{TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := snapshotter.NewMetrics(reg)
	if err != nil {
		return err
	}
	agg := health.New(nil)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", agg.Handler())
	go health.Serve(ctx, daemon.Env("HEALTH_LISTEN", ":9099"), mux, log)
	agg.Report("snapshotter", health.Report{Live: true, Ready: true})
	s := &snapshotter.Snapshotter{Dynamic: dyn, Linseed: ls, Period: period, Metrics: metrics, Log: log}
	s.Run(ctx)
	return nil
}
