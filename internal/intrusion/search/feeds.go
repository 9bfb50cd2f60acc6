// Package search matches the threat feeds' content against the logs in
// Linseed: IPSet feeds against flow logs (source and destination IPs,
// and the feed's own GlobalNetworkSet when a flow names it), DomainNameSet
// feeds against DNS logs (the name asked, and the names and data of the
// answers). Each record that matches becomes one security event; the
// event's ID comes from the feed and the record, so a record read again
// (the windows overlap, to catch late records) gives no second event.
package search

import (
	"net/netip"
	"slices"
	"strings"
	"sync"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/threatfeed"
)

// Feeds is the content of every enabled feed, as matchers; the feed
// controller puts each feed's content after a pull, and removes a feed
// that is deleted or disabled.
type Feeds struct {
	mu  sync.RWMutex
	ip  map[string]*threatfeed.IPMatcher
	dom map[string]*threatfeed.DomainMatcher
}

// Put sets a feed's content (entries as threatfeed.Parse gives them).
func (f *Feeds) Put(name, content string, entries []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ip == nil {
		f.ip, f.dom = map[string]*threatfeed.IPMatcher{}, map[string]*threatfeed.DomainMatcher{}
	}
	delete(f.ip, name)
	delete(f.dom, name)
	if content == v3.ThreatFeedContentDomainNameSet {
		f.dom[name] = threatfeed.NewDomainMatcher(entries)
	} else {
		f.ip[name] = threatfeed.NewIPMatcher(entries)
	}
}

// Remove forgets a feed.
func (f *Feeds) Remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ip, name)
	delete(f.dom, name)
}

// snapshot is the feeds at one moment, in name order.
type snapshot struct {
	ipNames  []string
	ip       []*threatfeed.IPMatcher
	domNames []string
	dom      []*threatfeed.DomainMatcher
}

func (f *Feeds) snapshot() snapshot {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var s snapshot
	for _, n := range sortedKeys(f.ip) {
		s.ipNames, s.ip = append(s.ipNames, n), append(s.ip, f.ip[n])
	}
	for _, n := range sortedKeys(f.dom) {
		s.domNames, s.dom = append(s.domNames, n), append(s.dom, f.dom[n])
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// names are every feed's.
func (s snapshot) names() []string { return append(slices.Clone(s.ipNames), s.domNames...) }

// Flow is the part of a flow log record the search reads.
type Flow struct {
	StartTime       int64  `json:"start_time"`
	EndTime         int64  `json:"end_time"`
	SourceIP        string `json:"source_ip"`
	SourceName      string `json:"source_name"`
	SourceNameAggr  string `json:"source_name_aggr"`
	SourceNamespace string `json:"source_namespace"`
	SourcePort      *int64 `json:"source_port"`
	SourceType      string `json:"source_type"`
	DestIP          string `json:"dest_ip"`
	DestName        string `json:"dest_name"`
	DestNameAggr    string `json:"dest_name_aggr"`
	DestNamespace   string `json:"dest_namespace"`
	DestPort        *int64 `json:"dest_port"`
	DestType        string `json:"dest_type"`
	Proto           string `json:"proto"`
	Action          string `json:"action"`
	Reporter        string `json:"reporter"`
	Host            string `json:"host"`
	NumFlowsStarted int64  `json:"num_flows_started"`
}

// FlowHit is a flow that matched a feed: by the address (source or
// destination, whichever is listed) or by naming the feed's set.
type FlowHit struct {
	Feed string
	// IP is the listed address, when the record has it.
	IP string
	// Source says the listed side is the source.
	Source bool
}

// matchFlow checks a flow against the IP feeds.
func (s snapshot) matchFlow(fl *Flow, hits []FlowHit) []FlowHit {
	src, _ := netip.ParseAddr(fl.SourceIP)
	dst, _ := netip.ParseAddr(fl.DestIP)
	for i, m := range s.ip {
		name := s.ipNames[i]
		switch {
		case dst.IsValid() && matches(m, dst):
			hits = append(hits, FlowHit{Feed: name, IP: fl.DestIP})
		case src.IsValid() && matches(m, src):
			hits = append(hits, FlowHit{Feed: name, IP: fl.SourceIP, Source: true})
		case fl.DestType == "ns" && namesSet(fl.DestNameAggr, name):
			hits = append(hits, FlowHit{Feed: name})
		case fl.SourceType == "ns" && namesSet(fl.SourceNameAggr, name):
			hits = append(hits, FlowHit{Feed: name, Source: true})
		}
	}
	return hits
}

func matches(m *threatfeed.IPMatcher, a netip.Addr) bool {
	_, ok := m.Match(a)
	return ok
}

// namesSet says whether a flow's endpoint is the feed's GlobalNetworkSet
// (threatfeed.<feed>, or a shard of it, threatfeed.<feed>-<n>).
func namesSet(nameAggr, feed string) bool {
	rest, ok := strings.CutPrefix(nameAggr, "threatfeed."+feed)
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	n, ok := strings.CutPrefix(rest, "-")
	return ok && n != "" && strings.Trim(n, "0123456789") == ""
}

// DNS is the part of a DNS log record the search reads.
type DNS struct {
	EndTime         string  `json:"end_time"`
	ClientIP        *string `json:"client_ip"`
	ClientName      string  `json:"client_name"`
	ClientNameAggr  string  `json:"client_name_aggr"`
	ClientNamespace string  `json:"client_namespace"`
	QName           string  `json:"qname"`
	RRSets          []struct {
		Name  string   `json:"name"`
		RData []string `json:"rdata"`
	} `json:"rrsets"`
	Host string `json:"host"`
}

// DNSHit is a lookup that matched a feed, and the listed name it matched
// by.
type DNSHit struct {
	Feed, Name string
}

// matchDNS checks a DNS record against the domain feeds: the question,
// the answers' names, and answer data that are names (a CNAME's target).
func (s snapshot) matchDNS(d *DNS, hits []DNSHit) []DNSHit {
	for i, m := range s.dom {
		if n, ok := m.Match(d.QName); ok {
			hits = append(hits, DNSHit{Feed: s.domNames[i], Name: n})
			continue
		}
	answers:
		for _, rr := range d.RRSets {
			if n, ok := m.Match(rr.Name); ok {
				hits = append(hits, DNSHit{Feed: s.domNames[i], Name: n})
				break
			}
			for _, data := range rr.RData {
				if _, err := netip.ParseAddr(data); err == nil {
					continue
				}
				if n, ok := m.Match(data); ok {
					hits = append(hits, DNSHit{Feed: s.domNames[i], Name: n})
					break answers
				}
			}
		}
	}
	return hits
}
