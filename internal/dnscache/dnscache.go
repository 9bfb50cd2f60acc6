// Package dnscache is what a node learns from the DNS answers its
// workloads receive, for domain-based policy: which addresses each
// domain name resolved to, through CNAME chains, until when. Each answer
// it takes comes back as the (name, address, expiry) triples it makes
// true, so that every name of a chain, not only its last, can join the
// domain sets whose patterns match it (calc.Graph.LearnDomain).
//
// It is pure: the answers come parsed. Names are compared in normal
// form: lower case, no trailing dot.
package dnscache

import (
	"net/netip"
	"slices"
	"time"

	"github.com/calicong/calico/internal/domainname"
)

// Record is one answer record the cache understands.
type Record struct {
	Name string
	// Addr is an A or AAAA record's address; Target a CNAME's.
	Addr   netip.Addr
	Target string
	TTL    time.Duration
}

// Answer says that Name resolves to Addr (directly or through CNAMEs)
// until Expires.
type Answer struct {
	Name    string
	Addr    netip.Addr
	Expires time.Time
}

// Cache holds the learned names.
type Cache struct {
	grace time.Duration
	// addrs and cnames are the live records by name; aliases is the
	// reverse of cnames (target to the names that point at it).
	addrs   map[string]map[netip.Addr]time.Time
	cnames  map[string]map[string]time.Time
	aliases map[string]map[string]struct{}
}

// New returns an empty cache. grace is added to every answer's TTL:
// clients may use an address a little after its TTL ran out, and a
// connection opened just before must not lose its address.
func New(grace time.Duration) *Cache {
	return &Cache{grace: grace, addrs: map[string]map[netip.Addr]time.Time{}, cnames: map[string]map[string]time.Time{},
		aliases: map[string]map[string]struct{}{}}
}

// Observe takes the records of one answer and returns what they make
// resolvable: for each address, every live name that leads to it (the
// record's own name and the names whose CNAME chains end there), with
// the earliest expiry along the chain. An answer already known comes
// back with its new expiry.
func (c *Cache) Observe(records []Record, now time.Time) []Answer {
	var out []Answer
	for _, r := range records {
		name := domainname.Canonical(r.Name)
		until := now.Add(r.TTL + c.grace)
		switch {
		case r.Addr.IsValid():
			m := c.addrs[name]
			if m == nil {
				m = map[netip.Addr]time.Time{}
				c.addrs[name] = m
			}
			addr := r.Addr.Unmap()
			if until.After(m[addr]) {
				m[addr] = until
			}
			c.walkBack(name, m[addr], now, func(alias string, exp time.Time) {
				out = append(out, Answer{Name: alias, Addr: addr, Expires: exp})
			})
		case r.Target != "":
			target := domainname.Canonical(r.Target)
			m := c.cnames[name]
			if m == nil {
				m = map[string]time.Time{}
				c.cnames[name] = m
			}
			if until.After(m[target]) {
				m[target] = until
			}
			if c.aliases[target] == nil {
				c.aliases[target] = map[string]struct{}{}
			}
			c.aliases[target][name] = struct{}{}
			// The names leading to this one now reach the target's
			// addresses.
			c.walkBack(name, m[target], now, func(alias string, exp time.Time) {
				c.walkForward(target, exp, now, 0, func(addr netip.Addr, aexp time.Time) {
					out = append(out, Answer{Name: alias, Addr: addr, Expires: aexp})
				})
			})
		}
	}
	return out
}

// maxChain bounds CNAME chains (and breaks loops).
const maxChain = 16

// walkBack calls f for name and every live name whose CNAME chain leads
// to it, with the earliest expiry along the way (capped by exp).
func (c *Cache) walkBack(name string, exp, now time.Time, f func(string, time.Time)) {
	type step struct {
		name  string
		exp   time.Time
		depth int
	}
	seen := map[string]bool{name: true}
	queue := []step{{name, exp, 0}}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f(s.name, s.exp)
		if s.depth == maxChain {
			continue
		}
		for alias := range c.aliases[s.name] {
			until, ok := c.cnames[alias][s.name]
			if !ok || !until.After(now) || seen[alias] {
				continue
			}
			seen[alias] = true
			queue = append(queue, step{alias, minTime(s.exp, until), s.depth + 1})
		}
	}
}

// walkForward calls f with the live addresses name resolves to, through
// CNAMEs, each with the earliest expiry along the way.
func (c *Cache) walkForward(name string, exp, now time.Time, depth int, f func(netip.Addr, time.Time)) {
	for addr, until := range c.addrs[name] {
		if until.After(now) {
			f(addr, minTime(exp, until))
		}
	}
	if depth == maxChain {
		return
	}
	for target, until := range c.cnames[name] {
		if until.After(now) {
			c.walkForward(target, minTime(exp, until), now, depth+1, f)
		}
	}
}

// Resolve lists the live addresses name resolves to, through CNAMEs.
func (c *Cache) Resolve(name string, now time.Time) []Answer {
	name = domainname.Canonical(name)
	best := map[netip.Addr]time.Time{}
	c.walkForward(name, now.Add(365*24*time.Hour), now, 0, func(a netip.Addr, exp time.Time) {
		if exp.After(best[a]) {
			best[a] = exp
		}
	})
	out := make([]Answer, 0, len(best))
	for a, exp := range best {
		out = append(out, Answer{Name: name, Addr: a, Expires: exp})
	}
	slices.SortFunc(out, func(x, y Answer) int { return x.Addr.Compare(y.Addr) })
	return out
}

func (c *Cache) knownNames() map[string]struct{} {
	out := make(map[string]struct{}, len(c.addrs)+len(c.cnames))
	for n := range c.addrs {
		out[n] = struct{}{}
	}
	for n := range c.cnames {
		out[n] = struct{}{}
	}
	return out
}

// Expire drops the records that ran out before now, and returns how
// many names the cache still holds.
func (c *Cache) Expire(now time.Time) int {
	for name, m := range c.addrs {
		for a, until := range m {
			if !until.After(now) {
				delete(m, a)
			}
		}
		if len(m) == 0 {
			delete(c.addrs, name)
		}
	}
	for name, m := range c.cnames {
		for target, until := range m {
			if !until.After(now) {
				delete(m, target)
				if al := c.aliases[target]; al != nil {
					delete(al, name)
					if len(al) == 0 {
						delete(c.aliases, target)
					}
				}
			}
		}
		if len(m) == 0 {
			delete(c.cnames, name)
		}
	}
	return len(c.knownNames())
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
