// Package dnslogs turns the DNS answers a node's workloads receive into
// Calico Enterprise's DNS log records (docs/dns-policy.md, "DNS logs"):
// one record per client, question, result and answer within a flush
// interval, counted, with the client and the servers named from the
// endpoints they are.
//
// Records are aggregated per dnsLogsFileAggregationKind: 0 keeps each
// client pod apart (with its address), 1 collapses the pods of one
// workload (client_name "-", client_name_aggr its prefix). At most
// dnsLogsFilePerNodeLimit records are kept per interval (0: no cap); the
// answers that would have made more are counted into one record of type
// "unlogged".
//
// It is pure: answers come parsed, endpoints from a lookup, and the
// records go to the caller, which writes them (dns.log).
package dnslogs

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/calicong/calico/internal/node/dnssnoop"
	"github.com/calicong/calico/internal/node/flowlogs"
)

// Config says how records are made.
type Config struct {
	// Host is this node (each record's host).
	Host string
	// AggregationKind is 0 (per client pod) or 1 (per workload).
	AggregationKind int
	// IncludeLabels adds the clients' and servers' labels.
	IncludeLabels bool
	// PerNodeLimit caps the records of one interval (0: none).
	PerNodeLimit int
}

// Record is one line of dns.log, with Calico Enterprise's field names.
type Record struct {
	StartTime       string            `json:"start_time"`
	EndTime         string            `json:"end_time"`
	Type            string            `json:"type"` // log, or unlogged
	Count           int               `json:"count"`
	ClientIP        *string           `json:"client_ip"`
	ClientName      string            `json:"client_name"`
	ClientNameAggr  string            `json:"client_name_aggr"`
	ClientNamespace string            `json:"client_namespace"`
	ClientLabels    map[string]string `json:"client_labels"`
	Servers         []Server          `json:"servers"`
	QName           string            `json:"qname"`
	QType           string            `json:"qtype"`
	QClass          string            `json:"qclass"`
	RCode           string            `json:"rcode"`
	RRSets          []RRSet           `json:"rrsets"`
	// Latency (ns) over the answers whose query was seen
	// (dnsLogsLatency); mean and max are null when none was.
	LatencyCount int    `json:"latency_count"`
	LatencyMean  *int64 `json:"latency_mean"`
	LatencyMax   *int64 `json:"latency_max"`
	latencySum   int64
	Host         string `json:"host"`
}

// Server is a DNS server that answered.
type Server struct {
	Name      string            `json:"name"`
	NameAggr  string            `json:"name_aggr"`
	Namespace string            `json:"namespace"`
	IP        string            `json:"ip"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// RRSet is the answer records of one name, type and class.
type RRSet struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Class string   `json:"class"`
	RData []string `json:"rdata"`
}

// Collector aggregates one interval's answers.
type Collector struct {
	cfg       Config
	endpoints flowlogs.Endpoints
	start     time.Time
	records   map[string]*Record
	order     []string
	unlogged  int
}

// New makes a collector; endpoints names clients and servers.
func New(cfg Config, endpoints flowlogs.Endpoints, now time.Time) *Collector {
	return &Collector{cfg: cfg, endpoints: endpoints, start: now, records: map[string]*Record{}}
}

// Add takes one answer, as its client received it.
func (c *Collector) Add(r dnssnoop.Response) {
	rec := Record{Type: "log", Count: 1, QName: r.Name, QType: r.Type, QClass: r.Class, RCode: r.Rcode, Host: c.cfg.Host}
	client, ok := c.endpoints.Lookup(r.Client)
	switch {
	case ok:
		rec.ClientName, rec.ClientNameAggr, rec.ClientNamespace = client.Name, aggr(client), dash(client.Namespace)
		if c.cfg.IncludeLabels {
			rec.ClientLabels = client.Labels
		}
	default:
		rec.ClientName, rec.ClientNameAggr, rec.ClientNamespace = "-", "pvt", "-"
		if !r.Client.IsPrivate() {
			rec.ClientNameAggr = "pub"
		}
	}
	if c.cfg.AggregationKind == 0 {
		ip := r.Client.String()
		rec.ClientIP = &ip
	} else {
		rec.ClientName = "-"
	}
	srv := Server{Name: "-", NameAggr: "pvt", Namespace: "-", IP: r.Server.String()}
	if !r.Server.IsPrivate() {
		srv.NameAggr = "pub"
	}
	if ep, ok := c.endpoints.Lookup(r.Server); ok {
		srv.Name, srv.NameAggr, srv.Namespace = ep.Name, aggr(ep), dash(ep.Namespace)
		if c.cfg.IncludeLabels {
			srv.Labels = ep.Labels
		}
	}
	rec.Servers = []Server{srv}
	for _, s := range r.RRSets {
		rec.RRSets = append(rec.RRSets, RRSet{Name: s.Name, Type: s.Type, Class: s.Class, RData: slices.Clone(s.RData)})
	}
	key := c.key(&rec)
	if old, ok := c.records[key]; ok {
		old.Count++
		old.addLatency(r.Latency)
		return
	}
	if c.cfg.PerNodeLimit > 0 && len(c.records) >= c.cfg.PerNodeLimit {
		c.unlogged++
		return
	}
	rec.addLatency(r.Latency)
	c.records[key] = &rec
	c.order = append(c.order, key)
}

func (r *Record) addLatency(d time.Duration) {
	if d <= 0 {
		return
	}
	ns := d.Nanoseconds()
	r.LatencyCount++
	r.latencySum += ns
	mean := r.latencySum / int64(r.LatencyCount)
	r.LatencyMean = &mean
	if r.LatencyMax == nil || ns > *r.LatencyMax {
		r.LatencyMax = &ns
	}
}

// key is what a record aggregates over.
func (c *Collector) key(r *Record) string {
	var b strings.Builder
	for _, s := range []string{r.ClientNamespace, r.ClientNameAggr, r.ClientName, r.QName, r.QType, r.QClass, r.RCode} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	if r.ClientIP != nil {
		b.WriteString(*r.ClientIP)
	}
	b.WriteByte(0)
	for _, s := range r.Servers {
		b.WriteString(s.IP)
		b.WriteByte(1)
	}
	b.WriteByte(0)
	for _, s := range r.RRSets {
		b.WriteString(s.Name + "\x01" + s.Type + "\x01" + s.Class + "\x01" + strings.Join(s.RData, "\x02"))
		b.WriteByte(0)
	}
	return b.String()
}

// Flush returns the interval's records, in the order their first answer
// came, and starts the next interval at now. An "unlogged" record counts
// the answers the per-node limit left out.
func (c *Collector) Flush(now time.Time) []Record {
	start, end := c.start.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)
	out := make([]Record, 0, len(c.order)+1)
	for _, k := range c.order {
		r := c.records[k]
		r.StartTime, r.EndTime = start, end
		out = append(out, *r)
	}
	if c.unlogged > 0 {
		out = append(out, Record{StartTime: start, EndTime: end, Type: "unlogged", Count: c.unlogged, Host: c.cfg.Host})
	}
	c.start, c.records, c.order, c.unlogged = now, map[string]*Record{}, nil, 0
	return out
}

// Unlogged is how many answers the limit left out so far this interval.
func (c *Collector) Unlogged() int { return c.unlogged }

func aggr(ep flowlogs.Endpoint) string { return cmp.Or(ep.AggrName, ep.Name) }

func dash(s string) string { return cmp.Or(s, "-") }
