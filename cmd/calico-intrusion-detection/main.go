// Command calico-intrusion-detection is the intrusion-detection
// controller (docs/intrusion-detection.md). One replica leads (a Lease);
// the leader
//   - pulls each enabled GlobalThreatFeed, keeping an IPSet feed in its
//     GlobalNetworkSet threatfeed.<name>, or reads a feed without pull
//     from Linseed's threat-feed endpoints, where it is pushed;
//   - searches the flow and DNS logs in Linseed for the feeds' content,
//     writing a security event for each record that matches;
//   - runs every GlobalAlert, writing an event for each bucket that fires;
//   - delivers events to the SecurityEventWebhooks.
//
// AlertExceptions suppress the events they match. Without LINSEED_URL
// only the feeds are pulled.
//
// Environment:
//
//	KUBECONFIG       the cluster (in-cluster config when unset)
//	NAMESPACE        where the Lease is, and the Secrets and ConfigMaps
//	                 feed headers and webhook configs refer to
//	                 (calico-system)
//	HEALTH_LISTEN    /liveness, /readiness and /metrics (:9099)
//	FEED_MAX_BYTES   the largest feed content accepted (64 MiB)
//	LINSEED_URL, LINSEED_CA, LINSEED_CLIENT_CERT, LINSEED_CLIENT_KEY,
//	LINSEED_TOKEN    Linseed, and this controller's identity towards it
//	                 (a client certificate and its ServiceAccount token)
//	CLUSTER_ID       the cluster's name in Linseed (cluster)
//	SEARCH_PERIOD    how often the logs are searched for the feeds, and
//	                 pushed feeds read from Linseed (1m)
//	WEBHOOK_POLL     how often webhooks look for new events (5s)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/daemon"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/intrusion/alerts"
	"github.com/calicong/calico/internal/intrusion/events"
	"github.com/calicong/calico/internal/intrusion/feeds"
	"github.com/calicong/calico/internal/intrusion/search"
	"github.com/calicong/calico/internal/intrusion/webhooks"
	"github.com/calicong/calico/internal/leader"
	"github.com/calicong/calico/internal/linseed/client"
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
	searchPeriod, err := daemon.Period("SEARCH_PERIOD", "1m")
	if err != nil {
		return err
	}
	webhookPoll, err := daemon.Period("WEBHOOK_POLL", "5s")
	if err != nil {
		return err
	}
	var ls *client.Client
	if os.Getenv("LINSEED_URL") != "" {
		if ls, err = client.FromEnv(client.Files{TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"}); err != nil {
			return err
		}
	} else {
		log.Warn("LINSEED_URL is not set: threat feeds are pulled, but the logs are not searched, alert rules do not run and webhooks get nothing")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	feedMetrics, err := feeds.NewMetrics(reg)
	if err != nil {
		return err
	}
	eventMetrics, err := events.NewMetrics(reg)
	if err != nil {
		return err
	}
	searchMetrics, err := search.NewMetrics(reg)
	if err != nil {
		return err
	}
	alertMetrics, err := alerts.NewMetrics(reg)
	if err != nil {
		return err
	}
	webhookMetrics, err := webhooks.NewMetrics(reg)
	if err != nil {
		return err
	}
	agg := health.New(nil)
	go health.Serve(ctx, daemon.Env("HEALTH_LISTEN", ":9099"), agg.WithMetrics(reg), log)

	contents := &search.Feeds{}
	syncer := &feeds.Syncer{Client: c, Namespace: ns, MaxBytes: maxBytes, Log: log.With("component", "threat-feeds"),
		HTTP: &http.Client{Timeout: 2 * time.Minute}, Metrics: feedMetrics}
	feedCtl := &feeds.Controller{Syncer: syncer, Contents: contents, PushPoll: searchPeriod}
	if ls != nil {
		feedCtl.Linseed = ls // feeds without pull are pushed there
	}
	agg.Report("intrusion-detection", health.Report{Live: true, Ready: true, Detail: "waiting to lead"})
	leader.Run(ctx, c.Kube, ns, "calico-intrusion-detection", log, func(ctx context.Context) {
		agg.Report("intrusion-detection", health.Report{Live: true, Ready: true, Detail: "leading"})
		var wg sync.WaitGroup
		start := func(name string, f func(context.Context) error) {
			wg.Go(func() {
				if err := f(ctx); err != nil && ctx.Err() == nil {
					log.Error(name, "err", err)
				}
			})
		}
		start("threat feeds", feedCtl.Run)
		if ls != nil {
			exceptions := func(ctx context.Context) ([]*v3.AlertException, error) {
				objs, err := c.List(ctx, exceptionKind, "")
				out := make([]*v3.AlertException, len(objs))
				for i, o := range objs {
					out[i] = o.(*v3.AlertException)
				}
				return out, err
			}
			writer := &events.Writer{Linseed: ls, Exceptions: exceptions, Metrics: eventMetrics, Log: log.With("component", "events")}
			searcher := &search.Searcher{Feeds: contents, Linseed: ls, Events: writer, Period: searchPeriod, Metrics: searchMetrics,
				Log: log.With("component", "search"), Status: func(ctx context.Context, feed string, change func(*v3.GlobalThreatFeedStatus)) error {
					return syncer.WriteStatus(ctx, feed, change)
				}}
			start("threat feed search", func(ctx context.Context) error { searcher.Run(ctx); return nil })
			alertCtl := &alerts.Controller{Client: c, Linseed: ls, Events: writer, Metrics: alertMetrics, Log: log.With("component", "alerts")}
			start("alert rules", alertCtl.Run)
			hookCtl := &webhooks.Controller{Client: c, Linseed: ls, Namespace: ns, Poll: webhookPoll, Metrics: webhookMetrics,
				Log: log.With("component", "webhooks"), HTTP: &http.Client{Timeout: 30 * time.Second}}
			start("webhooks", hookCtl.Run)
		}
		wg.Wait()
	})
	return nil
}

var exceptionKind, _ = v3.KindFor("AlertException")
