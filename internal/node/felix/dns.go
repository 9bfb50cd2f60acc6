package felix

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/internal/dnscache"
	"github.com/calicong/calico/internal/node/dataplane"
	"github.com/calicong/calico/internal/node/dnssnoop"
	"github.com/calicong/calico/internal/reconcile"
)

// DNSMark is the packet mark bit of the DNS packets calico-node reads
// for domain-based policy (outside the accept, pass and host endpoint
// bits, and kube-proxy's).
const DNSMark = 0x80000

// DNSQueue is the NFQUEUE number the answers are queued to (Calico
// Enterprise's).
const DNSQueue = 100

// dnsState is Felix's part of domain-based policy (docs/dns-policy.md):
// the names the node learned from trusted servers' answers, and the
// (name, address) pairs it put into domain sets, each with when it runs
// out. It lives on the main loop.
type dnsState struct {
	cache   *dnscache.Cache
	learned map[dnscache.Answer]time.Time // Expires zeroed in the key
}

// dnsAnswer is one answer on its way to the main loop; done hears when
// its addresses are programmed.
type dnsAnswer struct {
	records []dnscache.Record
	at      time.Time
	done    chan error
}

// dnsWaiters are answers whose set changes await programming.
type dnsWaiters struct {
	mu      sync.Mutex
	waiting []chan error
}

func (w *dnsWaiters) add(c chan error) {
	w.mu.Lock()
	w.waiting = append(w.waiting, c)
	w.mu.Unlock()
}

func (w *dnsWaiters) take() []chan error {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.waiting
	w.waiting = nil
	return out
}

// TrustedDNS parses dnsTrustedServers (validation.ParseTrustedServer):
// the Services whose endpoints are trusted ("namespace/name"), and
// servers given by address; ports are every port named.
func TrustedDNS(servers []string) (services []string, addrs []netip.Addr, ports []uint16, err error) {
	for _, s := range servers {
		t, err := validation.ParseTrustedServer(s)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("dnsTrustedServers %q: %w", s, err)
		}
		if t.Service != "" {
			services = append(services, t.Service)
		} else {
			addrs = append(addrs, t.Addr)
		}
		ports = append(ports, t.Port)
	}
	return services, addrs, ports, nil
}

// DNSLatency tells whether DNS logs time answers against their queries
// (dnsLogsFileEnabled and dnsLogsLatency, both on by default): the
// queries are then read too.
func DNSLatency(s v3.FelixConfigurationSpec) bool {
	on := func(b *bool) bool { return b == nil || *b }
	return on(s.DNSLogsFileEnabled) && on(s.DNSLogsLatency)
}

// setUpDNS prepares domain-based policy when the configuration asks for
// it (Config.DNSMark): the trusted servers' sets in the graph, and the
// dataplane's marking of their answers.
func (f *Felix) setUpDNS() error {
	if f.cfg.DNSMark == 0 {
		return nil
	}
	servers := []string{"k8s-service:kube-dns"}
	if s := f.cfg.Felix.Spec.DNSTrustedServers; s != nil {
		servers = *s
	}
	svcs, addrs, ports, err := TrustedDNS(servers)
	if err != nil {
		return err
	}
	snoop := &dataplane.DNSSnoop{Mark: f.cfg.DNSMark, Addrs: addrs, Ports: ports, Queries: DNSLatency(f.cfg.Felix.Spec)}
	for _, s := range svcs {
		ns, name, _ := strings.Cut(s, "/")
		snoop.Sets = append(snoop.Sets, f.graph.ServiceAddressSet(ns, name))
	}
	f.cfg.Dataplane.SetDNSSnoop(snoop)
	grace := 0 * time.Second
	if d := f.cfg.Felix.Spec.DNSExtraTTL; d != nil {
		grace = d.Duration
	}
	f.dns = &dnsState{cache: dnscache.New(grace), learned: map[dnscache.Answer]time.Time{}}
	return nil
}

// LearnDNS takes a trusted server's answer: its addresses join the
// domain sets whose names they answer, and LearnDNS returns once they
// are programmed (or ctx ends first). It is safe to call from any
// goroutine.
func (f *Felix) LearnDNS(ctx context.Context, r dnssnoop.Response, at time.Time) error {
	if f.cfg.DNSMark == 0 {
		return errors.New("domain-based policy is off")
	}
	if len(r.Records) == 0 {
		return nil
	}
	a := dnsAnswer{records: r.Records, at: at, done: make(chan error, 1)}
	select {
	case f.dnsAnswers <- a:
	case <-f.stopped:
		return errors.New("felix has stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-a.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// learn applies one answer to the graph (main loop).
func (f *Felix) learn(a dnsAnswer) {
	for _, ans := range f.dns.cache.Observe(a.records, a.at) {
		exp := ans.Expires
		ans.Expires = time.Time{}
		if old, ok := f.dns.learned[ans]; ok {
			if exp.After(old) {
				f.dns.learned[ans] = exp
			}
			continue
		}
		if f.graph.LearnDomain(ans.Name, ans.Addr) {
			f.dns.learned[ans] = exp
		}
	}
	f.metrics.dnsNames.Set(float64(len(f.dns.learned)))
}

// expireDNS forgets the answers that ran out (main loop).
func (f *Felix) expireDNS(now time.Time) {
	for ans, exp := range f.dns.learned {
		if !exp.After(now) {
			f.graph.ForgetDomain(ans.Name, ans.Addr)
			delete(f.dns.learned, ans)
		}
	}
	f.dns.cache.Expire(now)
	f.metrics.dnsNames.Set(float64(len(f.dns.learned)))
}

// dnsApplyLoop programs answers' set changes at once (not spaced by
// MinApplyInterval), then releases the answers that waited for them.
func (f *Felix) dnsApplyLoop(trigger reconcile.Trigger) reconcile.Loop {
	return reconcile.Loop{Trigger: trigger, Run: func(ctx context.Context) error {
		waiting := f.dnsWaiting.take()
		start := time.Now()
		err := f.apply(ctx)
		f.metrics.dnsApplyTime.Observe(time.Since(start).Seconds())
		for _, c := range waiting {
			c <- err
		}
		return err
	}, OnError: f.applyFailed, FirstRetry: f.cfg.RetryInterval}
}
