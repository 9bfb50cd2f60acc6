package benchmarker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/compliance/cis"
)

// Metrics are the benchmarker's Prometheus metrics.
type Metrics struct {
	tests    *prometheus.GaugeVec
	runs     prometheus.Counter
	failures prometheus.Counter
}

// NewMetrics registers the metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		tests: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "compliance_benchmark_tests",
			Help: "The last run's tests on this node, by status (PASS, FAIL, INFO)."}, []string{"status"}),
		runs: prometheus.NewCounter(prometheus.CounterOpts{Name: "compliance_benchmark_runs_total",
			Help: "Benchmark runs written to Linseed."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "compliance_benchmark_failures_total",
			Help: "Benchmark runs that could not be written."}),
	}
	for _, c := range []prometheus.Collector{m.tests, m.runs, m.failures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) record(r *cis.Result) {
	if m == nil {
		return
	}
	s := cis.Count(r.Tests, true)
	m.tests.WithLabelValues(cis.Pass).Set(float64(s.Pass))
	m.tests.WithLabelValues(cis.Fail).Set(float64(s.Fail))
	m.tests.WithLabelValues(cis.Info).Set(float64(s.Info))
	m.runs.Inc()
}

func (m *Metrics) failed() {
	if m != nil {
		m.failures.Inc()
	}
}
