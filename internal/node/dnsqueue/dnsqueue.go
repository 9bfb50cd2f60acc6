// Package dnsqueue is calico-node's reader of DNS answers for
// domain-based policy: the dataplane marks answers from trusted servers
// (dataplane.DNSSnoop), an iptables rule in the mangle table's FORWARD
// chain queues marked packets (NFQUEUE, with bypass: nothing is held
// when calico-node is not reading), and Run parses each answer and hands
// it to the policy agent.
//
// How long an answer is held follows dnsPolicyMode: DelayDNSResponse
// (and DelayDeniedPacket, which is built the same way here) releases it
// once its addresses are in the domain sets, so the workload's first
// connection after the lookup is allowed; NoDelay releases it at once
// and learns beside it. A held answer is released after MaxDelay
// whatever happens, so DNS never stops because policy is slow.
package dnsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ti-mo/conntrack"

	"github.com/calicong/calico/internal/node/dnssnoop"
	"github.com/calicong/calico/internal/node/nfqueue"
)

// Learner takes an answer and returns once its addresses are
// programmed (felix.Felix.LearnDNS).
type Learner interface {
	LearnDNS(ctx context.Context, r dnssnoop.Response, at time.Time) error
}

// Config says where the answers come from and how they are held.
type Config struct {
	Queue uint16
	Mark  uint32
	// Mode is dnsPolicyMode: NoDelay, DelayDeniedPacket or
	// DelayDNSResponse (the default).
	Mode string
	// MaxDelay bounds how long an answer is held (default 1s).
	MaxDelay time.Duration
	// Observe, if set, hears every answer read (DNS logs).
	Observe func(r dnssnoop.Response, at time.Time)
	// Latency times answers against their queries, which the dataplane
	// then queues too (released at once).
	Latency bool
	Log     *slog.Logger
	// Metrics registers the reader's metrics (nil: none).
	Metrics prometheus.Registerer
}

// comment marks the queue rule as calico-node's.
const comment = "calico-node: DNS answers for domain policy"

// ruleArgs is the queue rule, after -t mangle -X FORWARD.
func ruleArgs(c Config) []string {
	mark := fmt.Sprintf("0x%x/0x%x", c.Mark, c.Mark)
	return []string{"-m", "mark", "--mark", mark, "-m", "comment", "--comment", comment,
		"-j", "NFQUEUE", "--queue-num", fmt.Sprint(c.Queue), "--queue-bypass"}
}

// Install adds the queue rule for IPv4 and IPv6 unless it is there.
func Install(ctx context.Context, c Config) error {
	for _, bin := range []string{"iptables", "ip6tables"} {
		check := append([]string{"-w", "5", "-t", "mangle", "-C", "FORWARD"}, ruleArgs(c)...)
		if exec.CommandContext(ctx, bin, check...).Run() == nil {
			continue
		}
		add := append([]string{"-w", "5", "-t", "mangle", "-I", "FORWARD", "1"}, ruleArgs(c)...)
		if out, err := exec.CommandContext(ctx, bin, add...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v: %s", bin, strings.Join(add, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

type metrics struct {
	held    prometheus.Histogram
	answers *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		held: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "felix_dns_answer_hold_seconds",
			Help:    "How long DNS answers were held until their addresses were in the domain sets.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "felix_dns_answers_total",
			Help: "DNS answers read from trusted servers, by outcome: learned, late (released after the maximum delay), unparsed."}, []string{"outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.held, m.answers} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// replySource asks conntrack for the answer's connection and returns
// its reply source: the server that really answered.
func replySource(ct *conntrack.Conn, r dnssnoop.Response) (netip.Addr, bool) {
	f, err := ct.Get(conntrack.NewFlow(17, 0, r.Client, r.Server, r.ClientPort, r.ServerPort, 0, 0))
	if err != nil {
		return netip.Addr{}, false
	}
	a := f.TupleReply.IP.SourceAddress.Unmap()
	return a, a.IsValid()
}

// Run binds the queue and serves it until ctx ends.
func Run(ctx context.Context, c Config, l Learner) error {
	if c.MaxDelay == 0 {
		c.MaxDelay = time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(c.Metrics)
	if err != nil {
		return err
	}
	q, err := nfqueue.Open(nfqueue.Config{Num: c.Queue})
	if err != nil {
		return err
	}
	// Where the kernel does not hand over conntrack entries with queued
	// packets, DNS logs ask conntrack which pod really answered.
	ct, err := conntrack.Dial(nil)
	if err != nil {
		c.Log.Warn("no conntrack lookups: DNS logs name the address answers came from", "err", err)
		ct = nil
	} else {
		defer ct.Close()
	}
	hold := c.Mode != "NoDelay"
	release := func(id uint32) {
		if err := q.SetVerdict(id, nfqueue.Accept); err != nil && ctx.Err() == nil {
			c.Log.Warn("releasing a DNS answer", "err", err)
		}
	}
	queries := newPending(maxPending)
	return q.Run(ctx, func(p nfqueue.Packet) {
		if qr, err := dnssnoop.ParseQuery(p.Payload); err == nil {
			release(p.ID)
			if c.Latency {
				queries.add(qr, p.At)
			}
			return
		}
		r, err := dnssnoop.ParsePacket(p.Payload)
		if err != nil {
			release(p.ID)
			m.answers.WithLabelValues("unparsed").Inc()
			if !errors.Is(err, dnssnoop.ErrNotDNS) {
				c.Log.Debug("a DNS answer that does not parse", "err", err)
			}
			return
		}
		if at, ok := queries.take(r.Client, r.ClientPort, r.ID); ok {
			r.Latency = p.At.Sub(at)
		}
		if p.ReplySrc.IsValid() {
			r.Server = p.ReplySrc // the DNS pod, not the ClusterIP its answer came back from
		}
		needServer := !p.ReplySrc.IsValid()
		if !hold {
			release(p.ID)
		}
		go func() {
			lctx, cancel := context.WithTimeout(ctx, c.MaxDelay)
			defer cancel()
			err := l.LearnDNS(lctx, r, p.At)
			if hold {
				release(p.ID)
				m.held.Observe(time.Since(p.At).Seconds())
			}
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				m.answers.WithLabelValues("late").Inc()
				c.Log.Warn("a DNS answer was released before its addresses were programmed", "name", r.Name, "after", c.MaxDelay)
			case err != nil:
				m.answers.WithLabelValues("late").Inc()
				c.Log.Warn("learning a DNS answer", "name", r.Name, "err", err)
			default:
				m.answers.WithLabelValues("learned").Inc()
			}
			if c.Observe != nil {
				if needServer && ct != nil {
					if a, ok := replySource(ct, r); ok {
						r.Server = a
					}
				}
				c.Observe(r, p.At)
			}
		}()
	})
}

// maxPending bounds the queries awaiting their answers.
const maxPending = 1 << 16

// pending are the queries seen, by client, port and ID, until their
// answer comes (or they are pushed out, oldest first). It is used by the
// queue's reader alone.
type pending struct {
	at    map[queryKey]time.Time
	order []queryKey
	max   int
}

type queryKey struct {
	client netip.Addr
	port   uint16
	id     uint16
}

func newPending(max int) *pending { return &pending{at: map[queryKey]time.Time{}, max: max} }

func (p *pending) add(q dnssnoop.Query, at time.Time) {
	k := queryKey{q.Client.Unmap(), q.ClientPort, q.ID}
	if _, ok := p.at[k]; !ok {
		p.order = append(p.order, k)
	}
	p.at[k] = at
	for len(p.at) > p.max {
		delete(p.at, p.order[0])
		p.order = p.order[1:]
	}
	if len(p.order) > 2*p.max { // answered keys left in order
		live := p.order[:0]
		for _, k := range p.order {
			if _, ok := p.at[k]; ok {
				live = append(live, k)
			}
		}
		p.order = live
	}
}

func (p *pending) take(client netip.Addr, port, id uint16) (time.Time, bool) {
	k := queryKey{client.Unmap(), port, id}
	at, ok := p.at[k]
	delete(p.at, k)
	return at, ok
}
