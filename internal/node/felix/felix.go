// Package felix assembles the per-node policy agent: a syncer on the
// datastore feeds the policy engine (internal/calc) for this node, whose
// messages drive the dataplane (internal/dataplane); health and
// Prometheus metrics report how it goes.
//
// The main loop is single-threaded: datastore events are applied to the
// graph and flushed to the dataplane as they come (cheap, no I/O), and the
// dataplane is programmed when something changed and the datastore is in
// sync, retrying with back-off after a failure. Nothing is programmed
// before the first in-sync.
package felix

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/felixconfig"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/dataplane"
	"github.com/calicong/calico/internal/node/dataplane/vxlan"
	"github.com/calicong/calico/internal/proto"
	"github.com/calicong/calico/internal/reconcile"
)

// ErrConfigChanged is returned when the FelixConfiguration changed in a way
// that needs a restart; calico-node exits with code 129 and its
// supervisor starts it again, as Calico does.
var ErrConfigChanged = errors.New("felix configuration changed; restarting")

// Source delivers the datastore stream (a syncer) to callbacks.
type Source interface {
	Run(ctx context.Context) error
}

// Config assembles Felix.
type Config struct {
	NodeName string
	// Felix is the configuration Felix started with; a different one
	// arriving from the datastore ends Run with ErrConfigChanged.
	Felix *felixconfig.Config
	// NewSource makes the datastore source, given the callbacks.
	NewSource func(model.SyncerCallbacks) (Source, error)
	Dataplane *dataplane.Dataplane
	// Kicks, if set, delivers events that call for an Apply (an interface
	// appeared, say).
	Kicks  <-chan struct{}
	Health *health.Aggregator
	// Metrics registers Felix's metrics (nil: none).
	Metrics prometheus.Registerer
	// Env is the environment the configuration was resolved with.
	Env []string
	Log *slog.Logger
	// MinApplyInterval spaces dataplane programming (default 100ms);
	// RetryInterval is the first back-off after a failure (default 1s).
	// The periodic read-backs of the kernel follow the configuration's
	// nftablesRefreshInterval and routeRefreshInterval.
	MinApplyInterval time.Duration
	RetryInterval    time.Duration
	// DNSMark, if set, turns on domain-based policy: the dataplane marks
	// trusted servers' answers with it, and LearnDNS takes them.
	DNSMark uint32
}

// Felix is the agent.
type Felix struct {
	cfg     Config
	graph   *calc.Graph
	pending []proto.Message
	metrics *metrics
	events  chan event
	// queries run functions on the main loop, beside the graph; stopped
	// is closed when the loop has ended.
	queries chan func(*calc.Graph)
	stopped chan struct{}

	globalConfig, nodeConfig *v3.FelixConfiguration
	inSync                   bool // the main loop's view
	// synced is inSync for the loops that program the dataplane.
	synced atomic.Bool

	// dpMu serialises the dataplane's callers; applied (under it) says
	// the dataplane was programmed once.
	dpMu    sync.Mutex
	applied bool

	// dns is domain-based policy's state (nil when off); answers come in
	// on dnsAnswers and wait in dnsWaiting for their programming.
	dns        *dnsState
	dnsAnswers chan dnsAnswer
	dnsWaiting dnsWaiters
}

type event struct {
	updates []model.Update
	status  *model.SyncStatus
}

const (
	healthGraph     = "calculation-graph"
	healthDataplane = "dataplane"
)

// New assembles Felix; it starts nothing.
func New(cfg Config) (*Felix, error) {
	if cfg.Dataplane == nil || cfg.NewSource == nil || cfg.Felix == nil {
		return nil, errors.New("felix: Dataplane, NewSource and Felix are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MinApplyInterval == 0 {
		cfg.MinApplyInterval = 100 * time.Millisecond
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.Health == nil {
		cfg.Health = health.New(nil)
	}
	f := &Felix{cfg: cfg, events: make(chan event, 128), queries: make(chan func(*calc.Graph)), stopped: make(chan struct{}),
		dnsAnswers: make(chan dnsAnswer, 64)}
	f.graph = calc.New(calc.Config{Hostname: cfg.NodeName, Host: calc.HostSettingsFor(cfg.Felix.Spec), Log: cfg.Log}, func(msgs []proto.Message) {
		f.pending = append(f.pending, msgs...)
	})
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	f.metrics = m
	if err := f.setUpDNS(); err != nil {
		return nil, err
	}
	cfg.Health.Register(healthGraph, 90*time.Second)
	cfg.Health.Register(healthDataplane, 0)
	return f, nil
}

// OnUpdates and OnStatusUpdated are the syncer callbacks: they hand
// events to the main loop.
func (f *Felix) OnUpdates(us []model.Update) { f.events <- event{updates: us} }
func (f *Felix) OnStatusUpdated(s model.SyncStatus) {
	f.events <- event{status: &s}
}

// Run runs Felix until ctx ends, the source fails, or the configuration
// changes (ErrConfigChanged).
//
// The main loop feeds the graph and hands its messages to the dataplane;
// programming the kernel runs in a reconcile.Loop (coalesced, spaced by
// MinApplyInterval, retried with back-off), and so do the periodic
// read-backs that repair what someone else changed: the nftables table
// every nftablesRefreshInterval, routes every routeRefreshInterval. The
// dataplane is used under one lock, so it sees one caller at a time.
func (f *Felix) Run(ctx context.Context) error {
	defer close(f.stopped)
	ctx, cancel := context.WithCancel(ctx)
	var loops sync.WaitGroup
	defer loops.Wait()
	defer cancel()
	src, err := f.cfg.NewSource(f)
	if err != nil {
		return err
	}
	srcErr := make(chan error, 1)
	go func() { srcErr <- src.Run(ctx) }()

	serve := func(l reconcile.Loop) { loops.Go(func() { l.Serve(ctx) }) }
	apply := reconcile.NewTrigger()
	serve(reconcile.Loop{Trigger: apply, MinInterval: f.cfg.MinApplyInterval, FirstRetry: f.cfg.RetryInterval,
		Run: f.apply, OnError: f.applyFailed})
	spec := f.cfg.Felix.Spec
	f.cfg.Log.Info("reading back the kernel's state periodically", "nftablesRefreshInterval", interval(spec.NftablesRefreshInterval),
		"routeRefreshInterval", interval(spec.RouteRefreshInterval))
	if d := interval(spec.NftablesRefreshInterval); d > 0 {
		serve(reconcile.Loop{Resync: d, Run: func(ctx context.Context) error { return f.checkNFTables(ctx, apply) },
			OnError: func(err error) { f.cfg.Log.Warn("reading back the nftables table failed", "err", err) }})
	}
	if d := interval(spec.RouteRefreshInterval); d > 0 {
		serve(reconcile.Loop{Resync: d, Run: func(context.Context) error { f.refreshRoutes(apply); return nil }})
	}

	dnsApply := reconcile.NewTrigger()
	serve(f.dnsApplyLoop(dnsApply))

	heartbeat := time.NewTicker(10 * time.Second)
	defer heartbeat.Stop()
	expire := time.NewTicker(time.Second)
	defer expire.Stop()
	// toDataplane flushes the graph into the dataplane's desired state;
	// it tells whether anything changed.
	toDataplane := func() (bool, error) {
		start := time.Now()
		f.graph.Flush()
		f.metrics.graphTime.Observe(time.Since(start).Seconds())
		if len(f.pending) == 0 {
			return false, nil
		}
		f.dpMu.Lock()
		err := f.cfg.Dataplane.OnMessages(f.pending)
		f.dpMu.Unlock()
		if err != nil {
			return false, err
		}
		f.metrics.messages.Add(float64(len(f.pending)))
		f.pending = nil
		return true, nil
	}
	f.reportGraph()
	f.cfg.Health.Report(healthDataplane, health.Report{Live: true, Detail: "waiting for the datastore to be in sync"})
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-srcErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("datastore: %w", err)
		case ev := <-f.events:
			if err := f.handle(ev); err != nil {
				return err
			}
			// Take whatever else is queued before flushing.
			for drained := false; !drained; {
				select {
				case ev := <-f.events:
					if err := f.handle(ev); err != nil {
						return err
					}
				default:
					drained = true
				}
			}
			changed, err := toDataplane()
			if err != nil {
				return err
			}
			if changed && f.inSync {
				apply.Poke()
			}
		case a := <-f.dnsAnswers:
			f.learn(a)
			changed, err := toDataplane()
			if err != nil {
				return err
			}
			if !changed || !f.inSync {
				a.done <- nil // nothing to wait for (or nothing programmed yet)
				continue
			}
			f.dnsWaiting.add(a.done)
			dnsApply.Poke()
		case now := <-expire.C:
			if f.dns == nil {
				continue
			}
			f.expireDNS(now)
			changed, err := toDataplane()
			if err != nil {
				return err
			}
			if changed && f.inSync {
				apply.Poke()
			}
		case <-f.cfg.Kicks:
			if f.inSync {
				apply.Poke()
			}
		case q := <-f.queries:
			q(f.graph)
		case <-heartbeat.C:
			f.reportGraph()
		}
	}
}

func interval(d *metav1.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.Duration
}

// apply programs the dataplane (the apply loop's Run).
func (f *Felix) apply(ctx context.Context) error {
	f.dpMu.Lock()
	defer f.dpMu.Unlock()
	if !f.synced.Load() {
		return nil
	}
	start := time.Now()
	err := f.cfg.Dataplane.Apply(ctx)
	f.metrics.applyTime.Observe(time.Since(start).Seconds())
	f.metrics.update(f.cfg.Dataplane)
	if err != nil {
		return err
	}
	f.applied = true
	f.cfg.Health.Report(healthDataplane, health.Report{Live: true, Ready: true})
	return nil
}

func (f *Felix) applyFailed(err error) {
	f.metrics.failures.Inc()
	f.cfg.Log.Error("programming the dataplane failed; will retry", "err", err)
	f.dpMu.Lock()
	applied := f.applied
	f.dpMu.Unlock()
	f.cfg.Health.Report(healthDataplane, health.Report{Live: true, Ready: applied, Detail: "last apply failed: " + err.Error()})
}

// WithGraph runs fn on Felix's main loop with the policy engine's graph
// (for the oracle: flow logs' pending policies), waiting for it; it fails
// when ctx ends first or Felix's loop has ended.
func (f *Felix) WithGraph(ctx context.Context, fn func(*calc.Graph)) error {
	done := make(chan struct{})
	select {
	case f.queries <- func(g *calc.Graph) { fn(g); close(done) }:
	case <-f.stopped:
		return errors.New("felix has stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RuleOwner says which policy or profile a rule ID's chain belongs to,
// under the dataplane's lock (for flow logs, from any goroutine).
func (f *Felix) RuleOwner(chain string) (dataplane.RuleOwner, bool) {
	f.dpMu.Lock()
	defer f.dpMu.Unlock()
	return f.cfg.Dataplane.Owner(chain)
}

// checkNFTables reads back the nftables table; what differs is repaired
// by the next apply. The listing, seconds for a large table, is read
// without the dataplane's lock; what is committed meanwhile is left to the
// next check.
func (f *Felix) checkNFTables(ctx context.Context, apply reconcile.Trigger) error {
	f.dpMu.Lock()
	asOf, started := f.cfg.Dataplane.KernelGeneration()
	ready := f.applied && started
	f.dpMu.Unlock()
	if !ready {
		return nil
	}
	k, err := f.cfg.Dataplane.ReadKernel(ctx)
	if err != nil {
		return err
	}
	f.dpMu.Lock()
	repair := f.cfg.Dataplane.CheckKernel(k, asOf)
	f.dpMu.Unlock()
	if repair {
		apply.Poke()
	}
	return nil
}

// refreshRoutes makes the next apply read back and repair routes.
func (f *Felix) refreshRoutes(apply reconcile.Trigger) {
	f.dpMu.Lock()
	defer f.dpMu.Unlock()
	if !f.applied {
		return
	}
	f.cfg.Dataplane.RefreshRoutes()
	apply.Poke()
}

func (f *Felix) reportGraph() {
	detail := "in sync"
	if !f.inSync {
		detail = "waiting for the datastore"
	}
	f.cfg.Health.Report(healthGraph, health.Report{Live: true, Ready: f.inSync, Detail: detail})
}

func (f *Felix) handle(ev event) error {
	if ev.status != nil {
		f.metrics.resyncState.Set(float64(*ev.status) + 1)
		f.graph.OnStatusUpdated(*ev.status)
		if *ev.status == model.InSync && !f.inSync {
			f.inSync = true
			f.synced.Store(true)
			f.reportGraph()
			// A configuration change that arrived after Felix read its
			// first configuration, and before now, counts too.
			return f.checkConfig()
		}
		return nil
	}
	// Felix's own configuration is not for the graph: a change to it
	// restarts Felix (once in sync, to compare against the whole picture).
	var rest []model.Update
	for _, u := range ev.updates {
		if u.Key.Kind == "FelixConfiguration" {
			fc, _ := u.Value.(*v3.FelixConfiguration)
			switch u.Key.Name {
			case v3.DefaultConfigName:
				f.globalConfig = fc
			case v3.NodeConfigPrefix + f.cfg.NodeName:
				f.nodeConfig = fc
			default:
				continue
			}
			if f.inSync {
				if err := f.checkConfig(); err != nil {
					return err
				}
			}
			continue
		}
		rest = append(rest, u)
	}
	start := time.Now()
	f.graph.OnUpdates(rest)
	f.metrics.graphTime.Observe(time.Since(start).Seconds())
	return nil
}

// checkConfig ends Felix if the effective configuration differs from the
// one it started with.
func (f *Felix) checkConfig() error {
	now, err := felixconfig.Resolve(f.globalConfig, f.nodeConfig, f.cfg.Env)
	if err != nil {
		f.cfg.Log.Error("ignoring invalid Felix configuration", "err", err)
		return nil
	}
	if !reflect.DeepEqual(now.Spec, f.cfg.Felix.Spec) {
		return ErrConfigChanged
	}
	return nil
}

// FirstConfig reads the FelixConfiguration objects a node needs before
// Felix starts (Felix's own settings decide how the dataplane is built).
func FirstConfig(list func(name string) (*v3.FelixConfiguration, error), node string, env []string) (*felixconfig.Config, error) {
	global, err := list(v3.DefaultConfigName)
	if err != nil {
		return nil, err
	}
	perNode, err := list(v3.NodeConfigPrefix + node)
	if err != nil {
		return nil, err
	}
	return felixconfig.Resolve(global, perNode, env)
}

// DataplaneConfig derives the dataplane's settings from Felix's.
func DataplaneConfig(fc *felixconfig.Config, log *slog.Logger) dataplane.Config {
	s := fc.Spec
	cfg := dataplane.Config{
		InterfacePrefixes:           InterfacePrefixes(s),
		DefaultEndpointToHostAction: normaliseAction(s.DefaultEndpointToHostAction),
		Log:                         log,
	}
	host := calc.HostSettingsFor(s)
	cfg.FailsafeInbound, cfg.FailsafeOutbound = host.FailsafeInbound, host.FailsafeOutbound
	if b := s.FlowLogsFileEnabled; b != nil && *b {
		// Verdicts go to the flow-log collector (docs/flowlogs.md).
		cfg.NFLOGGroup = FlowLogsNFLOGGroup
	}
	if s.IptablesMarkMask != nil && *s.IptablesMarkMask != 0 {
		// Take the three lowest bits of the mask for accept, pass and
		// the host endpoint mark (flow logs).
		var bits []uint32
		for b := uint32(1); b != 0 && len(bits) < 3; b <<= 1 {
			if *s.IptablesMarkMask&b != 0 {
				bits = append(bits, b)
			}
		}
		if len(bits) >= 2 {
			cfg.MarkAccept, cfg.MarkPass = bits[0], bits[1]
		}
		if len(bits) == 3 {
			cfg.MarkHostEndpoint = bits[2]
		}
	}
	return cfg
}

// InterfacePrefixes splits Felix's interfacePrefix ("cali,tap") into the
// prefixes of workload interface names.
func InterfacePrefixes(s v3.FelixConfigurationSpec) []string {
	var out []string
	for _, p := range strings.Split(s.InterfacePrefix, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = []string{"cali"}
	}
	return out
}

// FlowLogsNFLOGGroup is the NFLOG group verdicts are reported to for
// flow logs.
const FlowLogsNFLOGGroup = 1

// VXLANConfig is the VXLAN overlay's configuration from FelixConfiguration.
func VXLANConfig(fc *felixconfig.Config) vxlan.Config {
	s := fc.Spec
	var c vxlan.Config
	if s.VXLANVNI != nil {
		c.VNI = *s.VXLANVNI
	}
	if s.VXLANPort != nil {
		c.Port = *s.VXLANPort
	}
	if s.VXLANMTU != nil {
		c.MTU = *s.VXLANMTU
	}
	return c
}

// normaliseAction maps Felix's spellings (DROP, ACCEPT, RETURN, any case).
func normaliseAction(a string) string {
	switch strings.ToUpper(a) {
	case "ACCEPT":
		return "Accept"
	case "RETURN":
		return "Return"
	}
	return "Drop"
}
