// Package flowlogs is calico-node's flow-log collector: it joins NFLOG's
// verdicts (which of our rules decided on a connection's first packet, or
// on each denied packet) with conntrack's view of the connections (their
// NAT and counters), and every flush interval aggregates what it saw into
// Calico Enterprise's flow log records (the JSON lines of flows.log) and
// its policy metrics (cnx_policy_rule_*, calico_denied_*).
//
// It is pure logic: the kernel readers feed it event values, lookups
// (endpoints, Services, rule IDs, the policy oracle) are interfaces, and
// the caller writes the records (flowlogs/logfile). docs/flowlogs.md
// describes the semantics.
package flowlogs

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/calicong/calico/internal/node/flowlogs/event"
)

// Config is the collector's part of FelixConfiguration's flowLogs*
// settings.
type Config struct {
	// Host is the node's name, each record's "host".
	Host string
	// AggregationAllowed and AggregationDenied are the aggregation levels
	// (0-3) of allowed and denied flows (flowLogsFileAggregationKindFor*;
	// Calico's defaults are 2 and 1).
	AggregationAllowed, AggregationDenied int
	// EnabledAllowed and EnabledDenied turn the records of allowed and
	// denied flows on (policy metrics are kept either way).
	EnabledAllowed, EnabledDenied bool
	// IncludeLabels, IncludePolicies and IncludeService fill the labels,
	// the policies and the dest_service fields.
	IncludeLabels, IncludePolicies, IncludeService bool
	// EnableHostEndpoint reports the flows of host endpoints and names
	// them ("hep"); off, host addresses are "net".
	EnableHostEndpoint bool
	// EnableNetworkSets names addresses by their NetworkSet ("ns"); off,
	// they are "net".
	EnableNetworkSets bool
	// TransitPolicies fills transit_policies with the policies of the
	// host endpoints a flow crossed (flowLogsPolicyScope AllPolicies).
	TransitPolicies bool
	// HostEndpointMark is the packet mark the dataplane sets while a host
	// endpoint's chains judge a packet (0: it sets none, and every
	// verdict counts as the flow's own endpoints').
	HostEndpointMark uint32
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (c Config) validate() error {
	for _, l := range []int{c.AggregationAllowed, c.AggregationDenied} {
		if l < 0 || l > 3 {
			return fmt.Errorf("aggregation level %d: must be 0 to 3", l)
		}
	}
	return nil
}

// Endpoint is what Endpoints knows of an address.
type Endpoint struct {
	// Type is "wep" (a pod), "hep" (a host endpoint), "ns" (a
	// NetworkSet) or "net".
	Type string
	// Name is the pod's, host endpoint's or NetworkSet's name.
	Name string
	// AggrName is the name at aggregation level 2: a pod's prefix ending
	// in "-*" (from its generateName), a host endpoint's node, a
	// NetworkSet's name. Empty means Name.
	AggrName string
	// Namespace is empty for what has none.
	Namespace string
	Labels    map[string]string
	// Local says it is a workload or host endpoint of this node: flows
	// are reported by their local ends.
	Local bool
}

// Domains lists the names DNS answers gave an address, still valid at
// now (dnslogs.Names).
type Domains interface {
	Lookup(addr netip.Addr, now time.Time) []string
}

// Endpoints names addresses.
type Endpoints interface {
	Lookup(addr netip.Addr) (Endpoint, bool)
}

// Services names the Service behind a DNATted connection's original
// destination (its cluster IP, node port or load balancer address).
type Services interface {
	Lookup(addr netip.Addr, port uint16, proto uint8) (name, namespace, portName string, ok bool)
}

// Rules describes the dataplane's rule IDs (the NFLOG prefixes), false
// when the ID's policy is gone. Index -1 is a tier's default drop (on the
// tier's last policy's chain) or the end of the profiles; the collector
// describes "D?-1|no profile" itself (NoProfileRule) when Rules does not.
type Rules interface {
	Describe(ruleID string) (Rule, bool)
}

// Pending is the policy oracle: the pending_policies of a flow (its tuple
// as the filter saw it, and the reporting side) evaluated with staged
// policies enforced.
type Pending interface {
	Pending(t event.Tuple, ingress bool) ([]string, bool)
}

// Deps are the collector's lookups. Endpoints and Rules are required;
// Services, Pending and Metrics may be nil.
type Deps struct {
	Endpoints Endpoints
	Services  Services
	// Domains, if set, names the domains a destination outside the
	// cluster was looked up as (dest_domains).
	Domains Domains
	Rules   Rules
	Pending Pending
	Metrics *Metrics
	Log     *slog.Logger
}

// NFLOGOnlyTimeout is how long a flow that conntrack never confirmed (a
// denied one) stays open after its last packet: Calico's collector age
// timeout. A flow quiet for that long when a flush comes is completed.
const NFLOGOnlyTimeout = 10 * time.Second

// compactMin is the size below which the interned tables are never
// compacted.
const compactMin = 4096

// Collector joins and aggregates; see the package doc. Its On* methods
// may be called from any goroutine.
type Collector struct {
	deps Deps
	log  *slog.Logger

	// mu guards the flows and the interned tables.
	mu      sync.Mutex
	cfg     Config
	conns   map[tkey]conn
	retired []row
	trie    trie
	svcs    services
	// The tables are compacted when they grow past these sizes.
	trieLimit, svcLimit int

	// flushMu serialises flushes; what follows belongs to the flusher.
	flushMu       sync.Mutex
	intervalStart time.Time
	rows          []row
	generation    uint64
	descs         map[string]ruleDesc
	metrics       metricState
}

// New makes a collector; its first interval starts now.
func New(cfg Config, deps Deps) (*Collector, error) {
	if deps.Endpoints == nil || deps.Rules == nil {
		return nil, errors.New("flow logs: endpoints and rules lookups are required")
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("flow logs: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{
		deps: deps, log: log, cfg: cfg,
		conns: map[tkey]conn{}, trie: newTrie(), svcs: newServices(),
		trieLimit: compactMin, svcLimit: compactMin,
		intervalStart: cfg.Now(), descs: map[string]ruleDesc{},
		metrics: newMetricState(),
	}, nil
}

// SetConfig changes the settings; the current interval is kept and is
// reported with the new ones.
func (c *Collector) SetConfig(cfg Config) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("flow logs: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg.Now == nil {
		cfg.Now = c.cfg.Now
	}
	c.cfg = cfg
	return nil
}

func (c *Collector) stamp(t time.Time) int64 {
	if t.IsZero() {
		t = c.cfg.Now()
	}
	return t.UnixNano()
}

// Transit stages: where a host endpoint's chain judged a forwarded
// packet, in the order a packet meets them.
const (
	stagePrerouting uint8 = iota // untracked and pre-DNAT policy
	stageForwardIn               // forwarded, the arriving interface's policy
	stageForwardOut              // forwarded, the leaving interface's policy
)

// transitStage says whether a verdict is a host endpoint's on a packet
// passing through (forwarded, or before DNAT), and where. Host endpoint
// verdicts in the input and output hooks are not transit: the host is
// then the flow's own end.
func (c *Collector) transitStage(v event.Verdict, ingress bool) (uint8, bool) {
	if c.cfg.HostEndpointMark == 0 || v.Mark&c.cfg.HostEndpointMark == 0 {
		return 0, false
	}
	switch v.Hook {
	case event.HookPrerouting:
		return stagePrerouting, true
	case event.HookForward:
		if ingress {
			return stageForwardIn, true
		}
		return stageForwardOut, true
	}
	return 0, false
}

// OnVerdict takes one NFLOG report. Prefixes that are not rule IDs are
// ignored.
func (c *Collector) OnVerdict(v event.Verdict) {
	act, ingress, ok := parsePrefix(v.Prefix)
	if !ok {
		return
	}
	side := sideSrc
	if ingress {
		side = sideDst
	}
	k := keyOf(v.Tuple)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.conns[k]
	if found && e.flags&(fCT|fEnded) == fCT|fEnded {
		// The tuple is reused by a new connection before the flush
		// reported the old one.
		c.retire(k, &e)
		found = false
	}
	if !found {
		e = conn{flags: fNew}
	}
	count := act != 'P'
	if stage, transit := c.transitStage(v, ingress); transit {
		n := e.transit
		if n != 0 {
			last := c.trie.nodes[n].action
			// A packet meets the stages in order, and a verdict ends a
			// stage: a verdict at the same or an earlier stage is a
			// later packet's (a denied flow's retry).
			if last == 'D' || stage < e.tstage || (stage == e.tstage && last != 'P') {
				n = 0
			}
		}
		e.transit, e.tstage = c.trie.child(n, v.Prefix, act), stage
		// Only a denial ends the packet here; an allowed packet is
		// counted by its endpoint's verdict or by conntrack. A denial
		// right after the endpoint's own allow is the same packet.
		count = act == 'D' && e.flags&fEndpointFinal == 0
		e.flags &^= fEndpointFinal
	} else {
		n := e.trace[side]
		if n != 0 && c.trie.nodes[n].action != 'P' {
			// The last sequence ended with a verdict: this packet is
			// another one (a denied flow's retry) and starts a new
			// sequence.
			n = 0
		}
		e.trace[side] = c.trie.child(n, v.Prefix, act)
		e.flags &^= fEndpointFinal
		if act == 'A' {
			e.flags |= fEndpointFinal
		}
	}
	if count {
		e.nfPkts[side]++
		if v.Bytes > 0 {
			e.nfBytes[side] += uint64(v.Bytes)
		}
	}
	e.lastSeen = c.stamp(v.At)
	c.conns[k] = e
}

// retire moves a flow that a new connection replaces into the flush's
// rows; e becomes the new connection's.
func (c *Collector) retire(k tkey, e *conn) {
	r := e.row(k)
	r.completed = true
	c.retired = append(c.retired, r)
	*e = conn{}
}

// verdictSeen says the flow's verdicts were seen, so its connection
// started while we were running.
func (c *Collector) verdictSeen(e *conn) bool {
	for _, n := range [3]uint32{e.trace[0], e.trace[1], e.transit} {
		if n != 0 && c.trie.nodes[n].action == 'A' {
			return true
		}
	}
	return false
}

// OnConn takes one conntrack observation.
//
// Counting: a connection is counted from zero when its start was seen
// (ConnStarted, or its verdicts); one first seen in a dump or at its end
// (started before this collector: a restart) only from that first
// reading on, so a restart does not count again what the previous
// process counted.
func (c *Collector) OnConn(o event.Conn) {
	k := ctKey(o)
	read := [4]uint64{o.OrigPackets, o.OrigBytes, o.ReplyPackets, o.ReplyBytes}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.conns[k]
	if found && e.flags&fCT != 0 {
		sameID := o.ID == 0 || e.id == 0 || o.ID == e.id
		if (e.flags&fEnded != 0 && (!sameID || o.Kind == event.ConnStarted)) || (e.flags&fEnded == 0 && !sameID) {
			// Another connection on the same tuple: the old one ended
			// (its end may have been lost). The new one started while we
			// were running.
			c.retire(k, &e)
			e.flags = fCT | fStarted
			e.id = o.ID
			e.pend = read
			e.last = read
			c.noteDNAT(&e, o)
			if o.Kind == event.ConnEnded {
				e.flags |= fEnded
			}
			c.conns[k] = e
			return
		}
		if e.flags&fEnded != 0 {
			return // a late reading of a connection that ended
		}
	}
	if !found || e.flags&fCT == 0 {
		fresh := o.Kind == event.ConnStarted || (found && c.verdictSeen(&e))
		e.flags = e.flags&^fNew | fCT
		e.id = o.ID
		e.last = read
		e.nfPkts, e.nfBytes = [2]uint32{}, [2]uint64{} // conntrack counts these packets
		if fresh {
			e.flags |= fStarted
			e.pend = read
		}
		c.noteDNAT(&e, o)
	} else {
		for i := range read {
			if read[i] >= e.last[i] {
				e.pend[i] += read[i] - e.last[i]
			}
		}
		e.last = read
		if e.id == 0 {
			e.id = o.ID
		}
	}
	if o.Kind == event.ConnEnded {
		e.flags |= fEnded
	}
	c.conns[k] = e
}

func (c *Collector) noteDNAT(e *conn, o event.Conn) {
	if o.Orig.Dst != o.Reply.Src || o.Orig.DstPort != o.Reply.SrcPort {
		e.svc = c.svcs.intern(o.Orig)
	}
}

// snapshot is the first half of a flush, under the lock: it reads every
// flow into rows and starts the new interval of each.
func (c *Collector) snapshot(now time.Time) (Config, []tnode, []svcAddr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.compact()
	if n := len(c.conns) + len(c.retired); cap(c.rows) < n {
		c.rows = make([]row, 0, n+n/4)
	}
	rows := append(c.rows[:0], c.retired...)
	c.retired = c.retired[:0]
	quiet := now.UnixNano() - int64(NFLOGOnlyTimeout)
	for k, e := range c.conns {
		if e.flags&fCT != 0 {
			rows = append(rows, e.row(k))
			if e.flags&fEnded != 0 {
				delete(c.conns, k)
				continue
			}
			e.flags &^= fStarted
			e.pend = [4]uint64{}
			e.nfPkts, e.nfBytes = [2]uint32{}, [2]uint64{}
			c.conns[k] = e
			continue
		}
		// NFLOG only: denied, or allowed but not (yet) confirmed.
		done := e.lastSeen <= quiet
		denied := false
		for _, n := range [3]uint32{e.trace[0], e.trace[1], e.transit} {
			denied = denied || (n != 0 && c.trie.nodes[n].action == 'D')
		}
		if !denied && !done {
			// Its conntrack entry may be on its way: wait.
			continue
		}
		r := e.row(k)
		r.started = e.flags&fNew != 0
		r.completed = done
		rows = append(rows, r)
		if done {
			delete(c.conns, k)
			continue
		}
		e.flags &^= fNew
		e.nfPkts, e.nfBytes = [2]uint32{}, [2]uint64{}
		c.conns[k] = e
	}
	c.rows = rows
	return c.cfg, c.trie.nodes, c.svcs.addrs
}

// compact rebuilds the interned tables when they have grown well past
// what the flows still use (policy churn, Services gone).
func (c *Collector) compact() {
	if len(c.trie.nodes) <= c.trieLimit && len(c.svcs.addrs) <= c.svcLimit {
		return
	}
	liveTraces := map[uint32]struct{}{}
	liveSvcs := map[uint32]struct{}{}
	note := func(tr [3]uint32, svc uint32) {
		for _, n := range tr {
			if n != 0 {
				liveTraces[n] = struct{}{}
			}
		}
		if svc != 0 {
			liveSvcs[svc] = struct{}{}
		}
	}
	for _, e := range c.conns {
		note([3]uint32{e.trace[0], e.trace[1], e.transit}, e.svc)
	}
	for _, r := range c.retired {
		note([3]uint32{r.trace[0], r.trace[1], r.transit}, r.svc)
	}
	var traceMap, svcMap map[uint32]uint32
	if len(c.trie.nodes) > c.trieLimit {
		nt := newTrie()
		traceMap = map[uint32]uint32{}
		for n := range liveTraces {
			var m uint32
			for _, id := range path(c.trie.nodes, n) {
				m = nt.child(m, id, id[0])
			}
			traceMap[n] = m
		}
		c.log.Debug("flow logs: compacted the trace table", "before", len(c.trie.nodes), "after", len(nt.nodes))
		c.trie = nt
		c.trieLimit = max(compactMin, 2*len(nt.nodes))
	}
	if len(c.svcs.addrs) > c.svcLimit {
		ns := newServices()
		svcMap = map[uint32]uint32{}
		for i := range liveSvcs {
			a := c.svcs.addrs[i]
			j := uint32(len(ns.addrs))
			ns.addrs = append(ns.addrs, a)
			ns.index[a] = j
			svcMap[i] = j
		}
		c.svcs = ns
		c.svcLimit = max(compactMin, 2*len(ns.addrs))
	}
	remap := func(tr *[2]uint32, transit, svc *uint32) {
		if traceMap != nil {
			for i, n := range tr {
				if n != 0 {
					tr[i] = traceMap[n]
				}
			}
			if *transit != 0 {
				*transit = traceMap[*transit]
			}
		}
		if svcMap != nil && *svc != 0 {
			*svc = svcMap[*svc]
		}
	}
	for k, e := range c.conns {
		remap(&e.trace, &e.transit, &e.svc)
		c.conns[k] = e
	}
	for i := range c.retired {
		remap(&c.retired[i].trace, &c.retired[i].transit, &c.retired[i].svc)
	}
}

// Live is the number of flows the collector holds.
func (c *Collector) Live() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}
