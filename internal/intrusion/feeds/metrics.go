package feeds

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts pulls and what they hold.
type Metrics struct {
	pulls   *prometheus.CounterVec
	entries *prometheus.GaugeVec
}

// NewMetrics registers the feeds' metrics (reg nil: none registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intrusion_detection_feed_pulls_total",
			Help: "Threat feed pulls, by feed and outcome: synced, unchanged or failed."}, []string{"feed", "outcome"}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "intrusion_detection_feed_entries",
			Help: "Entries of each threat feed's last good pull."}, []string{"feed"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.pulls, m.entries} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) pulled(feed, outcome string, entries int) {
	if m == nil {
		return
	}
	m.pulls.WithLabelValues(feed, outcome).Inc()
	if outcome != "failed" {
		m.entries.WithLabelValues(feed).Set(float64(entries))
	}
}
