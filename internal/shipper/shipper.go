// Package shipper is calico-log-shipper's core, fluentd's role in Calico
// Enterprise: it follows each node's logs (flow, DNS and BGP logs, the
// API server's audit log) and sends their lines in batches to Linseed's
// bulk API, at least once and in order.
//
// A source's position (file inode and offset, shipper/tail) is saved,
// atomically, only after Linseed acknowledged everything before it, so
// a restart resends at most the batch in flight, which Linseed stores
// once (it keys records by their content). While Linseed is down or
// refuses, the batch is retried with exponential backoff and nothing is
// read past it: the shipper keeps no copy of the logs, so its disk use
// is its position files. What it can lose is a file rotated away before
// it was read; that is counted (calico_log_shipper_lost_files_total) and
// logged.
package shipper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/shipper/tail"
)

// Source is one log to ship.
type Source struct {
	// Name names its position file and metrics ("flows", "audit").
	Name   string
	Stream tail.Stream
	// Route says which bulk path a line goes to ("/flows/logs/bulk"),
	// and may rewrite it; an empty path drops the line.
	Route func(line []byte) (path string, out []byte)
}

// Response is Linseed's answer to a bulk write.
type Response struct {
	Status int
	// Body is the decoded answer (BulkResponse fields, or "error").
	Total, Succeeded, Failed int
	Errors                   []LineError
	Error                    string
}

// LineError is a line Linseed refused.
type LineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Sender posts an NDJSON body to a bulk path.
type Sender interface {
	Send(ctx context.Context, path string, body []byte) (Response, error)
}

// Config configures the shipper.
type Config struct {
	Sources []Source
	Sender  Sender
	// StateDir holds the position files.
	StateDir string
	// BatchLines and BatchBytes bound a batch (defaults 2,000 and 4 MiB).
	BatchLines, BatchBytes int
	// Poll is how often a source at its end is read again (default 1s).
	Poll time.Duration
	// Backoff is the first wait after a failed send (default 1s),
	// doubling up to MaxBackoff (default 30s).
	Backoff, MaxBackoff time.Duration
	Registerer          prometheus.Registerer
	Log                 *slog.Logger
}

type metrics struct {
	sent, rejected, lost, failures *prometheus.CounterVec
	behind                         *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calico_log_shipper_records_sent_total",
			Help: "Log lines Linseed acknowledged, by source."}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calico_log_shipper_records_rejected_total",
			Help: "Log lines Linseed refused as malformed, by source."}, []string{"source"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calico_log_shipper_lost_files_total",
			Help: "Log files rotated away before they were shipped, by source."}, []string{"source"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calico_log_shipper_send_failures_total",
			Help: "Batches Linseed did not take (down, refusing), by source."}, []string{"source"}),
		behind: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "calico_log_shipper_behind_bytes",
			Help: "Bytes of a source's logs not shipped yet."}, []string{"source"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sent, m.rejected, m.lost, m.failures, m.behind} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Shipper ships its sources.
type Shipper struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	mu     sync.Mutex
	status map[string]string
}

// New checks the configuration.
func New(cfg Config) (*Shipper, error) {
	var errs []error
	if cfg.Sender == nil {
		errs = append(errs, errors.New("a sender is required"))
	}
	if cfg.StateDir == "" {
		errs = append(errs, errors.New("a state directory is required"))
	}
	names := map[string]bool{}
	for _, s := range cfg.Sources {
		if s.Name == "" || strings.ContainsAny(s.Name, "/ ") || names[s.Name] {
			errs = append(errs, fmt.Errorf("source %q: empty, duplicate or not a file name", s.Name))
		}
		names[s.Name] = true
		if s.Route == nil || s.Stream.Dir == "" || s.Stream.Live == "" {
			errs = append(errs, fmt.Errorf("source %s: a directory, a file and a route are required", s.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("log shipper: %w", err)
	}
	if cfg.BatchLines <= 0 {
		cfg.BatchLines = 2000
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 4 << 20
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Shipper{cfg: cfg, log: log, metrics: m, status: map[string]string{}}, nil
}

// Run ships until ctx ends.
func (s *Shipper) Run(ctx context.Context) error {
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("log shipper: %w", err)
	}
	var wg sync.WaitGroup
	for _, src := range s.cfg.Sources {
		wg.Go(func() { s.runSource(ctx, src) })
	}
	wg.Wait()
	return nil
}

// Status is each source's state ("shipping", "waiting for Linseed: …").
func (s *Shipper) Status() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.status {
		out[k] = v
	}
	return out
}

func (s *Shipper) setStatus(src, st string) {
	s.mu.Lock()
	s.status[src] = st
	s.mu.Unlock()
}

func (s *Shipper) positionFile(src string) string {
	return filepath.Join(s.cfg.StateDir, src+".pos")
}

func (s *Shipper) loadPosition(src string) tail.Position {
	var p tail.Position
	b, err := os.ReadFile(s.positionFile(src))
	if err == nil {
		if err := json.Unmarshal(b, &p); err != nil {
			s.log.Warn("position file unreadable; starting from the oldest log", "source", src, "err", err)
			p = tail.Position{}
		}
	}
	return p
}

// savePosition writes the position atomically and durably.
func (s *Shipper) savePosition(src string, p tail.Position) error {
	b, _ := json.Marshal(p)
	tmp := s.positionFile(src) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, s.positionFile(src))
}

func (s *Shipper) runSource(ctx context.Context, src Source) {
	pos := s.loadPosition(src.Name)
	s.setStatus(src.Name, "shipping")
	for ctx.Err() == nil {
		res, err := src.Stream.Read(pos, s.cfg.BatchLines, s.cfg.BatchBytes)
		if err != nil {
			s.log.Warn("reading the log failed", "source", src.Name, "err", err)
			s.sleep(ctx, s.cfg.Poll)
			continue
		}
		if res.Lost != "" {
			s.metrics.lost.WithLabelValues(src.Name).Inc()
			s.log.Error("a log file was rotated away before it was shipped; its unshipped lines are lost", "source", src.Name, "file", res.Lost)
		}
		s.metrics.behind.WithLabelValues(src.Name).Set(float64(res.Behind))
		if len(res.Lines) == 0 {
			if res.Next != pos {
				pos = res.Next
				_ = s.savePosition(src.Name, pos)
			}
			s.sleep(ctx, s.cfg.Poll)
			continue
		}
		if !s.ship(ctx, src, res.Lines) {
			return // stopped
		}
		pos = res.Next
		if err := s.savePosition(src.Name, pos); err != nil {
			s.log.Error("saving the position failed", "source", src.Name, "err", err)
		}
	}
}

// ship sends a batch, retrying until Linseed took all of it or ctx ends.
func (s *Shipper) ship(ctx context.Context, src Source, lines [][]byte) bool {
	bodies := map[string][][]byte{}
	var paths []string
	for _, l := range lines {
		path, out := src.Route(l)
		if path == "" {
			continue
		}
		if _, ok := bodies[path]; !ok {
			paths = append(paths, path)
		}
		bodies[path] = append(bodies[path], out)
	}
	wait := s.cfg.Backoff
	for _, path := range paths {
		for {
			err := s.send(ctx, src.Name, path, bodies[path])
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return false
			}
			s.metrics.failures.WithLabelValues(src.Name).Inc()
			s.setStatus(src.Name, "waiting for Linseed: "+err.Error())
			s.log.Warn("Linseed did not take a batch; retrying", "source", src.Name, "path", path, "lines", len(bodies[path]), "in", wait, "err", err)
			if !s.sleep(ctx, wait) {
				return false
			}
			wait = min(2*wait, s.cfg.MaxBackoff)
		}
		s.setStatus(src.Name, "shipping")
	}
	return true
}

// send posts lines; a body too large is sent in halves (a single line
// too large is dropped, with a log line).
func (s *Shipper) send(ctx context.Context, src, path string, lines [][]byte) error {
	var body []byte
	for _, l := range lines {
		body = append(append(body, l...), '\n')
	}
	resp, err := s.cfg.Sender.Send(ctx, path, body)
	if err != nil {
		return err
	}
	switch {
	case resp.Status == 200:
		s.metrics.sent.WithLabelValues(src).Add(float64(resp.Succeeded))
		if resp.Failed > 0 {
			s.metrics.rejected.WithLabelValues(src).Add(float64(resp.Failed))
			first := ""
			if len(resp.Errors) > 0 {
				first = fmt.Sprintf("line %d: %s", resp.Errors[0].Line, resp.Errors[0].Reason)
			}
			s.log.Warn("Linseed refused malformed lines", "source", src, "failed", resp.Failed, "first", first)
		}
		return nil
	case resp.Status == 413 && len(lines) > 1:
		half := len(lines) / 2
		if err := s.send(ctx, src, path, lines[:half]); err != nil {
			return err
		}
		return s.send(ctx, src, path, lines[half:])
	case resp.Status == 413:
		s.metrics.rejected.WithLabelValues(src).Inc()
		s.log.Error("a log line is larger than Linseed takes; dropped", "source", src, "bytes", len(lines[0]))
		return nil
	}
	msg := resp.Error
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d", resp.Status)
	}
	return fmt.Errorf("%d: %s", resp.Status, msg)
}

func (s *Shipper) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
