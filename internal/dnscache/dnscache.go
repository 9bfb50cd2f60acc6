// Package dnscache is what a node learns from the DNS answers its
// workloads receive, for domain-based policy: which addresses each
// domain name resolved to, through CNAME chains, until when; and, for
// each set of domain names a rule allows (destination.domains, a network
// set's allowedEgressDomains), the addresses that belong in the set.
//
// It is pure: the answers come parsed, and the changes it returns are
// for the dataplane to program (an nft set element per address, timing
// out when the answer does). Names are compared in normal form: lower
// case, no trailing dot.
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

// Member is an address that belongs in a domain set until Expires.
type Member struct {
	Set     string
	Addr    netip.Addr
	Expires time.Time
}

// Cache holds the learned names and the domain sets.
type Cache struct {
	grace time.Duration
	// addrs and cnames are the live records by name; aliases is the
	// reverse of cnames (target to the names that point at it).
	addrs   map[string]map[netip.Addr]time.Time
	cnames  map[string]map[string]time.Time
	aliases map[string]map[string]struct{}
	sets    map[string][]domainname.Pattern
	// exact indexes the sets' wildcard-free names; wild lists the sets
	// with a wildcard.
	exact map[string][]string
	wild  map[string][]domainname.Pattern
}

// New returns an empty cache. grace is added to every answer's TTL:
// clients may use an address a little after its TTL ran out, and a
// connection opened just before must not lose its address.
func New(grace time.Duration) *Cache {
	return &Cache{grace: grace, addrs: map[string]map[netip.Addr]time.Time{}, cnames: map[string]map[string]time.Time{},
		aliases: map[string]map[string]struct{}{}, sets: map[string][]domainname.Pattern{}, exact: map[string][]string{},
		wild: map[string][]domainname.Pattern{}}
}

// SetDomains defines (or redefines) a domain set and returns the members
// it has already, from what the cache knows.
func (c *Cache) SetDomains(id string, domains []string, now time.Time) ([]Member, error) {
	var ps []domainname.Pattern
	for _, d := range domains {
		p, err := domainname.Parse(d)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	c.RemoveSet(id)
	c.sets[id] = ps
	for _, p := range ps {
		if p.Wildcard() {
			c.wild[id] = append(c.wild[id], p)
		} else {
			c.exact[p.String()] = append(c.exact[p.String()], id)
		}
	}
	return c.Members(id, now), nil
}

// RemoveSet forgets a domain set.
func (c *Cache) RemoveSet(id string) {
	for _, p := range c.sets[id] {
		if !p.Wildcard() {
			n := p.String()
			c.exact[n] = slices.DeleteFunc(c.exact[n], func(s string) bool { return s == id })
			if len(c.exact[n]) == 0 {
				delete(c.exact, n)
			}
		}
	}
	delete(c.sets, id)
	delete(c.wild, id)
}

// setsOf lists the sets a name belongs to.
func (c *Cache) setsOf(name string, out []string) []string {
	out = append(out, c.exact[name]...)
	for id, ps := range c.wild {
		for _, p := range ps {
			if p.Match(name) {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// Observe takes the records of one answer and returns the set members
// they add or extend.
func (c *Cache) Observe(records []Record, now time.Time) []Member {
	var out []Member
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
			// The address reaches every name that leads here.
			c.walkBack(name, until, now, func(alias string, exp time.Time) {
				for _, id := range c.setsOf(alias, nil) {
					out = append(out, Member{Set: id, Addr: addr, Expires: exp})
				}
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
			c.walkBack(name, until, now, func(alias string, exp time.Time) {
				ids := c.setsOf(alias, nil)
				if len(ids) == 0 {
					return
				}
				c.walkForward(target, exp, now, 0, func(addr netip.Addr, aexp time.Time) {
					for _, id := range ids {
						out = append(out, Member{Set: id, Addr: addr, Expires: aexp})
					}
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

// Members lists a set's live members, from every name it matches.
func (c *Cache) Members(id string, now time.Time) []Member {
	ps, ok := c.sets[id]
	if !ok {
		return nil
	}
	best := map[netip.Addr]time.Time{}
	far := now.Add(365 * 24 * time.Hour)
	visit := func(name string) {
		c.walkForward(name, far, now, 0, func(a netip.Addr, exp time.Time) {
			if exp.After(best[a]) {
				best[a] = exp
			}
		})
	}
	for _, p := range ps {
		if !p.Wildcard() {
			visit(p.String())
		}
	}
	if len(c.wild[id]) > 0 {
		for name := range c.knownNames() {
			for _, p := range c.wild[id] {
				if p.Match(name) {
					visit(name)
					break
				}
			}
		}
	}
	out := make([]Member, 0, len(best))
	for a, exp := range best {
		out = append(out, Member{Set: id, Addr: a, Expires: exp})
	}
	slices.SortFunc(out, func(a, b Member) int { return a.Addr.Compare(b.Addr) })
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
