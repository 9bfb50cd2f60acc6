package flowlogs

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are Calico Enterprise's policy metrics, named and labelled as
// Felix names them: per rule, the packets and bytes of the flows it
// decided on (by traffic direction) and the connections it allowed or
// denied; per source address and denying rule, the denied packets and
// bytes. Every series carries the node as "instance", as Felix's do.
type Metrics struct {
	instance                          string
	rulePackets, ruleBytes, ruleConns *prometheus.CounterVec
	deniedPackets, deniedBytes        *prometheus.GaugeVec
}

// NewMetrics makes the metrics and registers them (reg nil: none).
// instance is the node's name.
func NewMetrics(reg prometheus.Registerer, instance string) (*Metrics, error) {
	connLabels := []string{"tier", "namespace", "policy", "kind", "rule_direction", "rule_index", "traffic_direction", "instance"}
	ruleLabels := append([]string{"action"}, connLabels...)
	m := &Metrics{
		instance: instance,
		rulePackets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cnx_policy_rule_packets",
			Help: "Total number of packets handled by Calico Enterprise policy rules."}, ruleLabels),
		ruleBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cnx_policy_rule_bytes",
			Help: "Total number of bytes handled by Calico Enterprise policy rules."}, ruleLabels),
		ruleConns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cnx_policy_rule_connections",
			Help: "Total number of connections handled by Calico Enterprise policy rules."}, connLabels),
		deniedPackets: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "calico_denied_packets",
			Help: "Total number of packets denied by calico policies."}, []string{"srcIP", "policy", "instance"}),
		deniedBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "calico_denied_bytes",
			Help: "Total number of bytes denied by calico policies."}, []string{"srcIP", "policy", "instance"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.rulePackets, m.ruleBytes, m.ruleConns, m.deniedPackets, m.deniedBytes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// DeniedMetricsRetention is how long a calico_denied_* series stays after
// its last denied packet (Calico keeps them a while too, so that a scrape
// sees the last count).
const DeniedMetricsRetention = 10 * time.Minute

// metricState is what the collector has exported, to delete it.
type metricState struct {
	// rules are the rules with series, by rule ID, as described then.
	rules map[string]Rule
	// denied are the denied series: when each last changed, and the rule
	// ID of the denying rule.
	denied map[deniedKey]deniedSeries
}

type deniedSeries struct {
	at time.Time
	id string
}

func newMetricState() metricState {
	return metricState{rules: map[string]Rule{}, denied: map[deniedKey]deniedSeries{}}
}

func (m *Metrics) ruleValues(r Rule, traffic string) prometheus.Labels {
	return prometheus.Labels{
		"action": r.Action, "tier": metricTier(r), "namespace": metricNamespace(r), "policy": metricPolicy(r),
		"kind": r.Kind, "rule_direction": direction(r.Ingress), "rule_index": strconv.Itoa(r.RuleIndex),
		"traffic_direction": traffic, "instance": m.instance,
	}
}

func (m *Metrics) connValues(r Rule) prometheus.Labels {
	l := m.ruleValues(r, "outbound")
	if r.Ingress {
		l["traffic_direction"] = "inbound"
	}
	delete(l, "action")
	return l
}

func direction(ingress bool) string {
	if ingress {
		return "ingress"
	}
	return "egress"
}

func (m *Metrics) deleteRule(r Rule) {
	for _, t := range []string{"inbound", "outbound"} {
		m.rulePackets.Delete(m.ruleValues(r, t))
		m.ruleBytes.Delete(m.ruleValues(r, t))
	}
	m.ruleConns.Delete(m.connValues(r))
}

// updateMetrics adds the interval's counts to the metrics and deletes the
// series of rules that are gone and of denied sources that went quiet.
func (f *flusher) updateMetrics(now time.Time) {
	m := f.c.deps.Metrics
	if m == nil {
		return
	}
	st := &f.c.metrics
	for tr, cs := range f.ruleStats {
		for n := tr; n != 0; n = f.nodes[n].parent {
			id := f.nodes[n].id
			r := f.rule(id)
			if !f.c.descs[id].known {
				continue
			}
			if old, ok := st.rules[id]; ok && old != r {
				m.deleteRule(old)
			}
			st.rules[id] = r
			in, out := m.ruleValues(r, "inbound"), m.ruleValues(r, "outbound")
			m.rulePackets.With(in).Add(float64(cs.pktsIn))
			m.ruleBytes.With(in).Add(float64(cs.bytesIn))
			m.rulePackets.With(out).Add(float64(cs.pktsOut))
			m.ruleBytes.With(out).Add(float64(cs.bytesOut))
			conns := m.ruleConns.With(m.connValues(r))
			if r.Action != "pass" {
				conns.Add(float64(cs.conns))
			}
		}
	}
	gone := map[string]bool{}
	known := func(id string) bool {
		g, ok := gone[id]
		if !ok {
			_, described := f.c.deps.Rules.Describe(id)
			_, special := fallbackRule(id)
			g = !described && !special
			gone[id] = g
		}
		return !g
	}
	for id, r := range st.rules {
		if !known(id) {
			m.deleteRule(r)
			delete(st.rules, id)
		}
	}
	for k, d := range f.denied {
		l := prometheus.Labels{"srcIP": k.srcIP, "policy": k.policy, "instance": m.instance}
		m.deniedPackets.With(l).Add(float64(d.pktsIn))
		m.deniedBytes.With(l).Add(float64(d.bytesIn))
		st.denied[k] = deniedSeries{at: now, id: d.id}
	}
	for k, d := range st.denied {
		if now.Sub(d.at) >= DeniedMetricsRetention || !known(d.id) {
			l := prometheus.Labels{"srcIP": k.srcIP, "policy": k.policy, "instance": m.instance}
			m.deniedPackets.Delete(l)
			m.deniedBytes.Delete(l)
			delete(st.denied, k)
		}
	}
}
