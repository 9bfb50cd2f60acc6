package flowlogs

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/calicong/calico/internal/netclass"
	"github.com/calicong/calico/internal/node/flowlogs/event"
)

// Flush ends the interval at now: it returns the interval's records and
// brings the policy metrics up to date. The caller reads conntrack's live
// connections (OnConn with ConnCounters) just before, so that every
// connection's counters are current.
func (c *Collector) Flush(now time.Time) []Record {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	cfg, nodes, svcs := c.snapshot(now)
	c.generation++
	f := &flusher{
		c: c, cfg: cfg, nodes: nodes, svcs: svcs,
		start: c.intervalStart.Unix(), end: now.Unix(), now: now,
		eps: map[netip.Addr]*epInfo{}, svcInfo: map[uint32]svcKey{},
		traceRules: map[uint32][]Rule{}, traceStrings: map[uint32][]string{},
		aggs: map[aggKey]*agg{}, ruleStats: map[uint32]*counters{}, denied: map[deniedKey]*deniedCount{},
	}
	for i := range c.rows {
		f.add(&c.rows[i])
	}
	recs := f.records()
	f.updateMetrics(now)
	c.pruneDescs()
	c.intervalStart = now
	return recs
}

// flusher is one flush's work, done without the collector's lock: the
// rows and the interned tables it reads are no longer written.
type flusher struct {
	c          *Collector
	cfg        Config
	nodes      []tnode
	svcs       []svcAddr
	start, end int64
	now        time.Time

	eps          map[netip.Addr]*epInfo
	svcInfo      map[uint32]svcKey
	traceRules   map[uint32][]Rule
	traceStrings map[uint32][]string
	aggs         map[aggKey]*agg
	ruleStats    map[uint32]*counters
	denied       map[deniedKey]*deniedCount
}

type deniedCount struct {
	pktsIn, bytesIn uint64
	id              string
}

// epInfo is an address as the records name it.
type epInfo struct {
	epKey
	labels []string
	// local: a flow's end that reports it.
	local bool
}

type epKey struct {
	typ, name, aggr, ns string
}

type svcKey struct {
	name, ns, portName string
	portNum            int32
}

// aggKey is what records are aggregated by: the fields a record writes,
// with those the level aggregates away left zero.
type aggKey struct {
	reporter, action string
	proto            uint8
	srcIP, dstIP     netip.Addr
	srcPort, dstPort int32
	src, dst         epKey
	svc              svcKey
	// trace is the enforced policies' trace when they are included:
	// flows that hit different rules are different records, as Calico
	// splits them. transit is the transit policies' likewise.
	trace, transit uint32
}

type counters struct {
	pktsIn, bytesIn, pktsOut, bytesOut uint64
	conns                              uint64
}

type agg struct {
	key                       aggKey
	counters                  counters
	flows, started, completed int64
	srcLabels, dstLabels      []string
	labelled                  bool
	// domains are the destination's names, from DNS answers.
	domains []string
	// rep is the last flow merged: the one pending policies are
	// evaluated for.
	rep        event.Tuple
	repIngress bool
}

type deniedKey struct {
	srcIP, policy string
}

// endpoint names an address, once per flush.
func (f *flusher) endpoint(a netip.Addr) *epInfo {
	if e, ok := f.eps[a]; ok {
		return e
	}
	ep, ok := f.c.deps.Endpoints.Lookup(a)
	switch {
	case !ok:
	case ep.Type == "hep" && !f.cfg.EnableHostEndpoint, ep.Type == "ns" && !f.cfg.EnableNetworkSets:
		ok = false
	}
	e := &epInfo{epKey: epKey{typ: "net", name: notIncluded, aggr: subnetName(a), ns: notIncluded}, labels: []string{}}
	if ok {
		e.typ = ep.Type
		e.name = orDash(ep.Name)
		e.aggr = ep.AggrName
		if e.aggr == "" {
			e.aggr = e.name
		}
		e.ns = orDash(ep.Namespace)
		if ep.Type == "net" {
			e.name = notIncluded
			if ep.AggrName == "" {
				e.aggr = subnetName(a)
			}
		}
		e.labels = flattenLabels(ep.Labels)
		e.local = ep.Local && (ep.Type == "wep" || ep.Type == "hep")
	}
	f.eps[a] = e
	return e
}

func orDash(s string) string {
	if s == "" {
		return notIncluded
	}
	return s
}

// subnetName is the aggregated name of an address that is no endpoint:
// "pvt" for private, shared, loopback and link-local addresses, "pub" for
// the others.
func subnetName(a netip.Addr) string {
	if netclass.Private(a) {
		return "pvt"
	}
	return "pub"
}

func flattenLabels(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// intersect keeps the sorted labels both have.
func intersect(a, b []string) []string {
	if slices.Equal(a, b) {
		return a
	}
	out := make([]string, 0, min(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch strings.Compare(a[i], b[j]) {
		case 0:
			out = append(out, a[i])
			i++
			j++
		case -1:
			i++
		default:
			j++
		}
	}
	return out
}

// service names a DNATted flow's Service, once per flush.
func (f *flusher) service(i uint32) svcKey {
	if s, ok := f.svcInfo[i]; ok {
		return s
	}
	s := svcKey{name: notIncluded, ns: notIncluded, portName: notIncluded}
	a := f.svcs[i]
	if f.c.deps.Services != nil {
		if name, ns, port, ok := f.c.deps.Services.Lookup(addrOf(a.addr, a.v6), a.port, a.proto); ok && name != "" {
			s = svcKey{name: name, ns: orDash(ns), portName: orDash(port), portNum: int32(a.port)}
		}
	}
	f.svcInfo[i] = s
	return s
}

// add accounts one flow: a record for each of its local ends, the
// metrics of the rules it hit.
func (f *flusher) add(rw *row) {
	t := rw.key.tuple()
	eps := [2]*epInfo{f.endpoint(t.Src), f.endpoint(t.Dst)}
	action := func(n uint32) byte {
		if n == 0 {
			return 0
		}
		return f.nodes[n].action
	}
	// The host endpoints' verdicts on a forwarded flow: counted in the
	// rule metrics once, whichever ends are local; a denial is counted
	// on the side of its direction (where OnVerdict counted its packets).
	tlast := action(rw.transit)
	tside := -1
	if rw.transit != 0 {
		tside = sideSrc
		if f.rule(f.nodes[rw.transit].id).Ingress {
			tside = sideDst
		}
		var cs counters
		switch {
		case rw.ct:
			cs = ctCounters(rw, tside)
		case tlast == 'D':
			cs = nfCounters(rw, tside)
		}
		f.countRule(rw.transit, cs)
		if tlast == 'D' && action(rw.trace[tside]) != 'D' {
			f.countDenied(t, rw.transit, rw, tside)
		}
	}
	for side := range 2 {
		tr := rw.trace[side]
		last := action(tr)
		if last == 'D' {
			f.countDenied(t, tr, rw, side)
		}
		if !eps[side].local {
			continue // the other end's node reports it
		}
		var cs counters
		act := "allow"
		switch {
		case last == 'D':
			act = "deny"
			cs = nfCounters(rw, side)
		case rw.ct:
			cs = ctCounters(rw, side)
		case tlast == 'D':
			// A host endpoint denied it on its way (forwarded, or
			// before DNAT).
			act = "deny"
			if side == tside {
				cs = nfCounters(rw, side)
			}
		case last == 'A':
			cs = nfCounters(rw, side)
		default:
			continue // no final verdict and no connection: nothing is known
		}
		f.countRule(tr, cs)
		level := f.cfg.AggregationAllowed
		if act == "deny" {
			if !f.cfg.EnabledDenied {
				continue
			}
			level = f.cfg.AggregationDenied
		} else if !f.cfg.EnabledAllowed {
			continue
		}
		f.merge(rw, t, eps, side, act, level, cs)
	}
}

// ctCounters are conntrack's counters of a flow from one end's view.
func ctCounters(rw *row, side int) counters {
	orig, reply := [2]uint64{rw.ctCount[0], rw.ctCount[1]}, [2]uint64{rw.ctCount[2], rw.ctCount[3]}
	cs := counters{pktsIn: orig[0], bytesIn: orig[1], pktsOut: reply[0], bytesOut: reply[1]}
	if side == sideSrc {
		cs = counters{pktsOut: orig[0], bytesOut: orig[1], pktsIn: reply[0], bytesIn: reply[1]}
	}
	if rw.started {
		cs.conns = 1
	}
	return cs
}

// countRule adds a flow's counters to the metrics of the rules of a
// trace.
func (f *flusher) countRule(tr uint32, cs counters) {
	if tr == 0 || f.c.deps.Metrics == nil {
		return
	}
	rs := f.ruleStats[tr]
	if rs == nil {
		rs = &counters{}
		f.ruleStats[tr] = rs
	}
	rs.add(cs)
}

// countDenied adds a denied flow's packets, as NFLOG counted them on
// one side, to calico_denied_* of its source and the denying rule.
func (f *flusher) countDenied(t event.Tuple, tr uint32, rw *row, side int) {
	if rw.nfPkts[side] == 0 || f.c.deps.Metrics == nil {
		return
	}
	id := f.nodes[tr].id
	dk := deniedKey{srcIP: t.Src.String(), policy: deniedPolicyName(f.rule(id))}
	d := f.denied[dk]
	if d == nil {
		d = &deniedCount{id: id}
		f.denied[dk] = d
	}
	d.pktsIn += uint64(rw.nfPkts[side])
	d.bytesIn += rw.nfBytes[side]
}

func nfCounters(rw *row, side int) counters {
	if side == sideSrc {
		return counters{pktsOut: uint64(rw.nfPkts[side]), bytesOut: rw.nfBytes[side]}
	}
	return counters{pktsIn: uint64(rw.nfPkts[side]), bytesIn: rw.nfBytes[side]}
}

func (c *counters) add(o counters) {
	c.pktsIn += o.pktsIn
	c.bytesIn += o.bytesIn
	c.pktsOut += o.pktsOut
	c.bytesOut += o.bytesOut
	c.conns += o.conns
}

// merge adds one end's view of a flow to its record.
func (f *flusher) merge(rw *row, t event.Tuple, eps [2]*epInfo, side int, action string, level int, cs counters) {
	k := aggKey{
		reporter: "src", action: action, proto: t.Proto,
		srcPort: -1, dstPort: -1,
		src: eps[sideSrc].epKey, dst: eps[sideDst].epKey,
		svc: svcKey{name: notIncluded, ns: notIncluded, portName: notIncluded},
	}
	if side == sideDst {
		k.reporter = "dst"
	}
	icmp := t.Proto == event.ProtoICMP || t.Proto == event.ProtoICMPv6
	if level < 1 && !icmp {
		k.srcPort = int32(t.SrcPort)
	}
	if level < 3 && !icmp {
		k.dstPort = int32(t.DstPort)
	}
	if level < 2 {
		k.srcIP, k.dstIP = t.Src, t.Dst
	} else {
		k.src.name, k.dst.name = notIncluded, notIncluded
	}
	if f.cfg.IncludeService && rw.svc != 0 {
		k.svc = f.service(rw.svc)
		if level >= 3 {
			k.svc.portName = notIncluded
		}
	}
	if f.cfg.IncludePolicies {
		k.trace = rw.trace[side]
		if f.cfg.TransitPolicies {
			k.transit = rw.transit
		}
	}
	a := f.aggs[k]
	if a == nil {
		a = &agg{key: k}
		f.aggs[k] = a
	}
	a.counters.add(cs)
	a.flows++
	if rw.started {
		a.started++
	}
	if rw.completed {
		a.completed++
	}
	if f.cfg.IncludeLabels {
		if !a.labelled {
			a.srcLabels, a.dstLabels, a.labelled = eps[sideSrc].labels, eps[sideDst].labels, true
		} else {
			a.srcLabels = intersect(a.srcLabels, eps[sideSrc].labels)
			a.dstLabels = intersect(a.dstLabels, eps[sideDst].labels)
		}
	}
	if d := f.c.deps.Domains; d != nil && k.dst.typ != "wep" && k.dst.typ != "hep" {
		for _, n := range d.Lookup(t.Dst, f.now) {
			if !slices.Contains(a.domains, n) {
				a.domains = append(a.domains, n)
			}
		}
	}
	a.rep, a.repIngress = t, side == sideDst
}

// rule describes a rule ID. A description is kept while flows use it,
// so that a flow's enforced policies stay what they were when it started
// even if the policy goes.
func (f *flusher) rule(id string) Rule {
	c := f.c
	if d, ok := c.descs[id]; ok && (d.known || d.used == c.generation) {
		if d.used != c.generation {
			d.used = c.generation
			c.descs[id] = d
		}
		return d.rule
	}
	r, ok := c.deps.Rules.Describe(id)
	if !ok {
		r, ok = fallbackRule(id)
	}
	c.descs[id] = ruleDesc{rule: r, known: ok, used: c.generation}
	return r
}

// ruleDesc is a cached description.
type ruleDesc struct {
	rule  Rule
	known bool
	used  uint64
}

// pruneDescs forgets the descriptions no flow used in this flush.
func (c *Collector) pruneDescs() {
	for id, d := range c.descs {
		if d.used != c.generation {
			if _, ok := c.metrics.rules[id]; !ok {
				delete(c.descs, id)
			}
		}
	}
}

// policies lists a trace as Calico's policy strings.
func (f *flusher) policies(tr uint32) []string {
	if tr == 0 {
		return []string{}
	}
	if s, ok := f.traceStrings[tr]; ok {
		return s
	}
	ids := path(f.nodes, tr)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = policyString(i, f.rule(id))
	}
	f.traceStrings[tr] = out
	return out
}

// records turns the aggregates into records, in a stable order.
func (f *flusher) records() []Record {
	out := make([]Record, 0, len(f.aggs))
	for _, a := range f.aggs {
		k := a.key
		r := newRecord()
		r.StartTime, r.EndTime = f.start, f.end
		r.SourceIP, r.SourcePort = ipString(k.srcIP), portPtr(k.srcPort)
		r.SourceName, r.SourceNameAggr, r.SourceNamespace, r.SourceType = k.src.name, k.src.aggr, k.src.ns, k.src.typ
		r.DestIP, r.DestPort = ipString(k.dstIP), portPtr(k.dstPort)
		r.DestName, r.DestNameAggr, r.DestNamespace, r.DestType = k.dst.name, k.dst.aggr, k.dst.ns, k.dst.typ
		if f.cfg.IncludeLabels {
			r.SourceLabels, r.DestLabels = &Labels{Labels: a.srcLabels}, &Labels{Labels: a.dstLabels}
		}
		r.DestServiceNamespace, r.DestServiceName, r.DestServicePortName = k.svc.ns, k.svc.name, k.svc.portName
		if k.svc.portNum > 0 {
			r.DestServicePortNum = portPtr(k.svc.portNum)
		}
		r.Proto, r.Action, r.Reporter = ProtoName(k.proto), k.action, k.reporter
		if f.cfg.IncludePolicies {
			p := &Policies{EnforcedPolicies: f.policies(k.trace), PendingPolicies: []string{}, TransitPolicies: f.policies(k.transit)}
			if f.c.deps.Pending != nil {
				if pend, ok := f.c.deps.Pending.Pending(a.rep, a.repIngress); ok && pend != nil {
					p.PendingPolicies = pend
				}
			}
			r.Policies = p
		}
		r.BytesIn, r.BytesOut = int64(a.counters.bytesIn), int64(a.counters.bytesOut)
		r.PacketsIn, r.PacketsOut = int64(a.counters.pktsIn), int64(a.counters.pktsOut)
		r.NumFlows, r.NumFlowsStarted, r.NumFlowsCompleted = a.flows, a.started, a.completed
		if len(a.domains) > 0 {
			r.DestDomains = slices.Sorted(slices.Values(a.domains))
		}
		r.Host = f.cfg.Host
		out = append(out, r)
	}
	slices.SortFunc(out, compareRecords)
	return out
}

func compareRecords(a, b Record) int {
	return cmp.Or(
		cmp.Compare(a.Reporter, b.Reporter),
		cmp.Compare(a.Action, b.Action),
		cmp.Compare(a.SourceNamespace, b.SourceNamespace),
		cmp.Compare(a.SourceNameAggr, b.SourceNameAggr),
		cmp.Compare(a.SourceName, b.SourceName),
		cmp.Compare(deref(a.SourceIP), deref(b.SourceIP)),
		cmp.Compare(derefInt(a.SourcePort), derefInt(b.SourcePort)),
		cmp.Compare(a.DestNamespace, b.DestNamespace),
		cmp.Compare(a.DestNameAggr, b.DestNameAggr),
		cmp.Compare(a.DestName, b.DestName),
		cmp.Compare(deref(a.DestIP), deref(b.DestIP)),
		cmp.Compare(derefInt(a.DestPort), derefInt(b.DestPort)),
		cmp.Compare(a.Proto, b.Proto),
		cmp.Compare(a.DestServiceName, b.DestServiceName),
		comparePolicies(a.Policies, b.Policies),
	)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

func comparePolicies(a, b *Policies) int {
	if a == nil || b == nil {
		return 0
	}
	return slices.Compare(a.EnforcedPolicies, b.EnforcedPolicies)
}
