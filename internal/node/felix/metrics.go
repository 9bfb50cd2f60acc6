package felix

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/node/dataplane"
)

// metrics carries Felix's Prometheus metrics, named as Felix names them.
type metrics struct {
	applyTime      prometheus.Histogram
	graphTime      prometheus.Histogram
	failures       prometheus.Counter
	messages       prometheus.Counter
	resyncState    prometheus.Gauge
	localEndpoints prometheus.Gauge
	localPolicies  prometheus.Gauge
	ipsets         prometheus.Gauge
	chains         prometheus.Gauge
	dnsNames       prometheus.Gauge
	dnsApplyTime   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		applyTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "felix_int_dataplane_apply_time_seconds",
			Help: "Time to program the dataplane.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		graphTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "felix_calc_graph_update_time_seconds",
			Help: "Time to process datastore updates in the calculation graph.", Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10)}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "felix_int_dataplane_failures",
			Help: "Failed attempts to program the dataplane."}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{Name: "felix_int_dataplane_messages",
			Help: "Messages from the calculation graph to the dataplane."}),
		resyncState: prometheus.NewGauge(prometheus.GaugeOpts{Name: "felix_resync_state",
			Help: "Datastore sync state: 1 waiting for the datastore, 2 resyncing, 3 in sync."}),
		localEndpoints: prometheus.NewGauge(prometheus.GaugeOpts{Name: "felix_active_local_endpoints",
			Help: "Local endpoints the dataplane is programmed for."}),
		localPolicies: prometheus.NewGauge(prometheus.GaugeOpts{Name: "felix_active_local_policies",
			Help: "Policies that apply to local endpoints."}),
		ipsets: prometheus.NewGauge(prometheus.GaugeOpts{Name: "felix_ipsets_calico",
			Help: "IP sets the dataplane holds."}),
		chains: prometheus.NewGauge(prometheus.GaugeOpts{Name: "felix_nft_chains",
			Help: "Chains in Felix's nftables table."}),
		dnsNames: prometheus.NewGauge(prometheus.GaugeOpts{Name: "felix_dns_domain_set_answers",
			Help: "Answers (name, address) that domain sets hold, from trusted DNS servers."}),
		dnsApplyTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "felix_dns_set_update_time_seconds",
			Help:    "Time to program the domain sets' changes of DNS answers, which hold the answers back meanwhile.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12)}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.applyTime, m.graphTime, m.failures, m.messages, m.resyncState,
		m.localEndpoints, m.localPolicies, m.ipsets, m.chains, m.dnsNames, m.dnsApplyTime} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) update(dp *dataplane.Dataplane) {
	st := dp.State()
	m.localEndpoints.Set(float64(len(st.Workloads) + len(st.Hosts)))
	m.localPolicies.Set(float64(len(st.Policies)))
	m.ipsets.Set(float64(len(st.IPSets)))
	m.chains.Set(float64(len(dp.Table().ChainNames())))
}

// Repairs logs and counts the repairs of kernel state that someone else
// changed (felix_dataplane_repairs_total, by kind: nftables, routes,
// vxlan). The dataplane's parts report to it through their Repaired
// hooks.
type Repairs struct {
	count *prometheus.CounterVec
	log   *slog.Logger
}

// NewRepairs makes the recorder and registers its metric (reg nil: none).
func NewRepairs(reg prometheus.Registerer, log *slog.Logger) (*Repairs, error) {
	r := &Repairs{log: log, count: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "felix_dataplane_repairs_total",
		Help: "Repairs of kernel state (nftables, routes, the VXLAN overlay) that was changed by someone else."}, []string{"kind"})}
	for _, k := range []string{"nftables", "routes", "vxlan"} {
		r.count.WithLabelValues(k)
	}
	if reg != nil {
		if err := reg.Register(r.count); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Record logs and counts one repair.
func (r *Repairs) Record(kind, what string) {
	r.count.WithLabelValues(kind).Inc()
	r.log.Warn("repairing kernel state changed by someone else", "kind", kind, "repair", what)
}

// For is Record for one kind, as the routes and overlay managers take it.
func (r *Repairs) For(kind string) func(what string) {
	return func(what string) { r.Record(kind, what) }
}
