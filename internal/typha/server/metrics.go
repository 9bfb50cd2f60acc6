package server

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the server's Prometheus figures.
type Metrics struct {
	accepted      prometheus.Counter
	active        prometheus.Gauge
	dropped       *prometheus.CounterVec
	clientLatency prometheus.Histogram
	pingLatency   prometheus.Histogram
	snapshotSend  prometheus.Histogram
}

func newUnregisteredMetrics() *Metrics {
	lat := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	return &Metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "typha_connections_accepted",
			Help: "Connections accepted (before the handshake)."}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "typha_connections_active",
			Help: "Clients past the handshake."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "typha_connections_dropped",
			Help: "Connections closed by Typha or by the client, by reason (tls, handshake, limit, rebalance, shutdown, fell-behind, pong-timeout, protocol, read)."},
			[]string{"reason"}),
		clientLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "typha_client_latency_secs",
			Help: "Per client, the time from an update reaching the cache to its being written to the client.", Buckets: lat}),
		pingLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "typha_ping_latency",
			Help: "Round trip of a ping through the client's queue, in seconds.", Buckets: lat}),
		snapshotSend: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "typha_snapshot_send_secs",
			Help: "Time to build (or reuse) and write a new client's snapshot.", Buckets: lat}),
	}
}

// NewMetrics registers the server metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newUnregisteredMetrics()
	for _, c := range []prometheus.Collector{m.accepted, m.active, m.dropped, m.clientLatency, m.pingLatency, m.snapshotSend} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
