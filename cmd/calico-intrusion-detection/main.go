// Command calico-intrusion-detection is the intrusion-detection
// controller (docs/intrusion-detection.md). One replica leads (a Lease);
// the leader keeps the GlobalThreatFeeds: it pulls each enabled feed and
// keeps an IPSet feed in its GlobalNetworkSet threatfeed.<name>, with the
// feed's status saying how the last pull went.
//
// Environment:
//
//	KUBECONFIG       the cluster (in-cluster config when unset)
//	NAMESPACE        where the Lease is, and the Secrets and ConfigMaps
//	                 feed headers refer to (calico-system)
//	HEALTH_LISTEN    /liveness, /readiness and /metrics (:9099)
//	FEED_MAX_BYTES   the largest feed content accepted (64 MiB)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/calicong/calico/internal/daemon"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/intrusion/feeds"
	"github.com/calicong/calico/internal/leader"
)

func main() { daemon.Main("calico-intrusion-detection", run) }

func run(ctx context.Context, log *slog.Logger) error {
	c, err := datastore.Connect(os.Getenv("KUBECONFIG"))
	if err != nil {
		return err
	}
	ns := daemon.Env("NAMESPACE", "calico-system")
	maxBytes, err := strconv.ParseInt(daemon.Env("FEED_MAX_BYTES", strconv.Itoa(feeds.DefaultMaxBytes)), 10, 64)
	if err != nil || maxBytes <= 0 {
		return fmt.Errorf("FEED_MAX_BYTES %q: a positive number of bytes", os.Getenv("FEED_MAX_BYTES"))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := feeds.NewMetrics(reg)
	if err != nil {
		return err
	}
	agg := health.New(nil)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", agg.Handler())
	go health.Serve(ctx, daemon.Env("HEALTH_LISTEN", ":9099"), mux, log)

	ctl := &feeds.Controller{Syncer: &feeds.Syncer{Client: c, Namespace: ns, MaxBytes: maxBytes, Log: log.With("component", "threat-feeds"),
		HTTP: &http.Client{Timeout: 2 * time.Minute}, Metrics: metrics}}
	agg.Report("intrusion-detection", health.Report{Live: true, Ready: true, Detail: "waiting to lead"})
	leader.Run(ctx, c.Kube, ns, "calico-intrusion-detection", log, func(ctx context.Context) {
		agg.Report("intrusion-detection", health.Report{Live: true, Ready: true, Detail: "leading"})
		if err := ctl.Run(ctx); err != nil {
			log.Error("threat feeds", "err", err)
		}
	})
	return nil
}
