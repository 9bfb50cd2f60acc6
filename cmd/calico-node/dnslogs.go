package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/calicong/calico/internal/felixconfig"
	"github.com/calicong/calico/internal/node/dnslogs"
	"github.com/calicong/calico/internal/node/dnssnoop"
	"github.com/calicong/calico/internal/node/flowlogs/logfile"
	"github.com/calicong/calico/internal/node/flowlogs/lookup"
)

func dnsLogsEnabled(fc *felixconfig.Config) bool {
	b := fc.Spec.DNSLogsFileEnabled
	return b == nil || *b
}

// dnsLogs writes the answers calico-node reads to dns.log
// (docs/dns-policy.md, "DNS logs") every dnsLogsFlushInterval.
type dnsLogs struct {
	mu   sync.Mutex
	col  *dnslogs.Collector
	file *logfile.Writer
	log  *slog.Logger
	done chan struct{}
}

func startDNSLogs(ctx context.Context, fc *felixconfig.Config, node string, index *lookup.Index, log *slog.Logger) (*dnsLogs, error) {
	s := fc.Spec
	log = log.With("component", "dns-logs")
	cfg := dnslogs.Config{Host: node, AggregationKind: 1, IncludeLabels: true}
	if s.DNSLogsFileAggregationKind != nil {
		cfg.AggregationKind = *s.DNSLogsFileAggregationKind
	}
	if s.DNSLogsFileIncludeLabels != nil {
		cfg.IncludeLabels = *s.DNSLogsFileIncludeLabels
	}
	if s.DNSLogsFilePerNodeLimit != nil {
		cfg.PerNodeLimit = *s.DNSLogsFilePerNodeLimit
	}
	dir := "/var/log/calico/dnslogs"
	if s.DNSLogsFileDirectory != nil {
		dir = *s.DNSLogsFileDirectory
	}
	interval := 5 * time.Minute
	if s.DNSLogsFlushInterval != nil && s.DNSLogsFlushInterval.Duration > 0 {
		interval = s.DNSLogsFlushInterval.Duration
	}
	file, err := logfile.Open(logfile.Config{Dir: dir, FileName: "dns.log"})
	if err != nil {
		return nil, err
	}
	d := &dnsLogs{col: dnslogs.New(cfg, lookup.ForNode{Index: index, Node: node}, time.Now()), file: file, log: log, done: make(chan struct{})}
	log.Info("writing DNS logs", "file", file.Path(), "flushInterval", interval, "aggregationKind", cfg.AggregationKind, "perNodeLimit", cfg.PerNodeLimit)
	go func() {
		defer close(d.done)
		defer file.Close()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				d.flush(time.Now())
				return
			case now := <-t.C:
				d.flush(now)
			}
		}
	}()
	return d, nil
}

// observe takes one answer (dnsqueue.Config.Observe).
func (d *dnsLogs) observe(r dnssnoop.Response, _ time.Time) {
	d.mu.Lock()
	d.col.Add(r)
	d.mu.Unlock()
}

func (d *dnsLogs) flush(now time.Time) {
	d.mu.Lock()
	recs := d.col.Flush(now)
	d.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	for _, r := range recs {
		if r.Type == "unlogged" {
			d.log.Warn("DNS answers beyond dnsLogsFilePerNodeLimit were not logged", "count", r.Count)
		}
	}
	if err := logfile.WriteJSONLines(d.file, recs); err != nil {
		d.log.Error("writing DNS logs", "err", err)
	}
}

// wait returns once the last interval is written.
func (d *dnsLogs) wait() { <-d.done }
