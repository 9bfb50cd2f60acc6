package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/felixconfig"
	"github.com/calicong/calico/internal/node/felix"
	"github.com/calicong/calico/internal/node/flowlogs"
	"github.com/calicong/calico/internal/node/flowlogs/conntrack"
	"github.com/calicong/calico/internal/node/flowlogs/logfile"
	"github.com/calicong/calico/internal/node/flowlogs/lookup"
	"github.com/calicong/calico/internal/node/flowlogs/nflog"
	"github.com/calicong/calico/internal/node/flowlogs/runner"
)

// flowLogsEnabled reads flowLogsFileEnabled.
func flowLogsEnabled(fc *felixconfig.Config) bool {
	b := fc.Spec.FlowLogsFileEnabled
	return b != nil && *b
}

// flowLogsInterval is flowLogsFlushInterval (Felix's default if unset).
func flowLogsInterval(fc *felixconfig.Config) time.Duration {
	if d := fc.Spec.FlowLogsFlushInterval; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return 5 * time.Minute
}

// collectorConfig is the collector's part of Felix's configuration.
func collectorConfig(fc *felixconfig.Config, node string) flowlogs.Config {
	s := fc.Spec
	on := func(b *bool) bool { return b != nil && *b }
	level := func(p *int, def int) int {
		if p == nil {
			return def
		}
		return *p
	}
	return flowlogs.Config{Host: node,
		AggregationAllowed: level(s.FlowLogsFileAggregationKindForAllowed, 2), AggregationDenied: level(s.FlowLogsFileAggregationKindForDenied, 1),
		EnabledAllowed: on(s.FlowLogsFileEnabledForAllowed), EnabledDenied: on(s.FlowLogsFileEnabledForDenied),
		IncludeLabels: on(s.FlowLogsFileIncludeLabels), IncludePolicies: on(s.FlowLogsFileIncludePolicies), IncludeService: on(s.FlowLogsFileIncludeService),
		EnableHostEndpoint: on(s.FlowLogsEnableHostEndpoint), EnableNetworkSets: on(s.FlowLogsEnableNetworkSets),
		TransitPolicies:  s.FlowLogsPolicyScope != nil && *s.FlowLogsPolicyScope == "AllPolicies",
		HostEndpointMark: felix.DataplaneConfig(fc, nil).HostEndpointMarkInUse()}
}

// flowLogs is flow-log collection on this node (docs/flowlogs.md): NFLOG
// verdicts and conntrack in this network namespace, the collector, the
// log file and the policy metrics.
type flowLogs struct {
	index    *lookup.Index
	services *lookup.Services
	done     chan struct{}
}

// newFlowLogs prepares what must exist before Felix starts, with the
// endpoint index that consumes Felix's datastore stream.
func newFlowLogs(index *lookup.Index) *flowLogs {
	return &flowLogs{index: index, services: lookup.NewServices(), done: make(chan struct{})}
}

// start runs collection until ctx ends (then a last flush); wait returns
// once that is written.
func (fl *flowLogs) start(ctx context.Context, fc *felixconfig.Config, node string, client *datastore.Client, f *felix.Felix,
	domains flowlogs.Domains, reg prometheus.Registerer, log *slog.Logger) error {
	log = log.With("component", "flow-logs")
	s := fc.Spec
	if err := conntrack.EnableAccounting(""); err != nil {
		return fmt.Errorf("flow logs: enabling conntrack accounting: %w", err)
	}
	ct, err := conntrack.New(conntrack.Config{Log: log})
	if err != nil {
		return fmt.Errorf("flow logs: %w", err)
	}
	nl, err := nflog.Open(nflog.Config{Group: felix.FlowLogsNFLOGGroup, Log: log})
	if err != nil {
		ct.Close()
		return fmt.Errorf("flow logs: %w", err)
	}
	var metrics *flowlogs.Metrics
	if reg != nil {
		if metrics, err = flowlogs.NewMetrics(reg, node); err != nil {
			return err
		}
	}
	oracle := &lookup.Oracle{}
	rules := lookup.Rules{Owner: func(chain string) (lookup.Owner, bool) {
		o, ok := f.RuleOwner(chain)
		return lookup.Owner{Policy: o.Policy, Tier: o.Tier, Profile: o.Profile}, ok
	}}
	col, err := flowlogs.New(collectorConfig(fc, node), flowlogs.Deps{Endpoints: lookup.ForNode{Index: fl.index, Node: node},
		Services: fl.services, Domains: domains, Rules: rules, Pending: oracle, Metrics: metrics, Log: log})
	if err != nil {
		return err
	}
	file, err := logfile.Open(logfile.Config{Dir: *s.FlowLogsFileDirectory, MaxFileSizeMB: *s.FlowLogsFileMaxFileSizeMB, MaxFiles: *s.FlowLogsFileMaxFiles})
	if err != nil {
		return fmt.Errorf("flow logs: %w", err)
	}
	// Services name the connections kube-proxy translated.
	svcInformer := informers.NewSharedInformerFactory(client.Kube, 0).Core().V1().Services().Informer()
	_, _ = svcInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { fl.services.Set(o.(*corev1.Service)) },
		UpdateFunc: func(_, o any) { fl.services.Set(o.(*corev1.Service)) },
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if svc, ok := o.(*corev1.Service); ok {
				fl.services.Delete(svc.Namespace, svc.Name)
			}
		},
	})
	go svcInformer.RunWithContext(ctx)
	interval := s.FlowLogsFlushInterval.Duration
	log.Info("collecting flow logs", "directory", file.Path(), "flushInterval", interval)
	go func() {
		defer close(fl.done)
		defer ct.Close()
		defer nl.Close()
		defer file.Close()
		err := runner.Run(ctx, runner.Config{Interval: interval, Collector: col, Conntrack: ct, NFLOG: nl, File: file, Log: log,
			// The records are computed on Felix's loop, where the oracle
			// answers pending policies; once Felix has stopped, without them.
			Flush: func(ctx context.Context, now time.Time) []flowlogs.Record {
				var recs []flowlogs.Record
				err := f.WithGraph(ctx, func(g *calc.Graph) {
					oracle.Graph = g
					recs = col.Flush(now)
					oracle.Graph = nil
				})
				if err != nil {
					recs = col.Flush(now)
				}
				return recs
			}})
		if err != nil {
			log.Error("flow log collection stopped", "err", err)
		}
	}()
	return nil
}

// wait returns once collection has stopped and its last records are
// written.
func (fl *flowLogs) wait() { <-fl.done }
