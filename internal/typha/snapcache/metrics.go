package snapcache

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the caches' Prometheus figures, labelled by syncer type. One
// Metrics serves every cache of a process.
type Metrics struct {
	updates, skipped  *prometheus.CounterVec
	size, seq         *prometheus.GaugeVec
	generated, reused *prometheus.CounterVec
	rawBytes          *prometheus.GaugeVec
	compressedBytes   *prometheus.GaugeVec
}

// NewMetrics registers the cache metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	l := []string{"syncer"}
	m := &Metrics{
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "typha_updates_total",
			Help: "Updates received from the datastore syncer."}, l),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "typha_updates_skipped",
			Help: "Updates dropped because they changed nothing (same encoded value, or a delete of an unknown key)."}, l),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "typha_cache_size",
			Help: "Keys in the cache."}, l),
		seq: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "typha_breadcrumb_seq_number",
			Help: "Sequence number of the newest breadcrumb."}, l),
		generated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "typha_snapshots_generated",
			Help: "Snapshots built."}, l),
		reused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "typha_snapshots_reused",
			Help: "Snapshots handed to a client without being rebuilt."}, l),
		rawBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "typha_snapshot_raw_bytes",
			Help: "Uncompressed size of the newest snapshot."}, l),
		compressedBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "typha_snapshot_compressed_bytes",
			Help: "Compressed size of the newest snapshot."}, l),
	}
	for _, c := range []prometheus.Collector{m.updates, m.skipped, m.size, m.seq, m.generated, m.reused, m.rawBytes, m.compressedBytes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
