// Package runner runs flow-log collection on a node: the kernel readers
// (NFLOG verdicts, conntrack events) feed the collector as they come, and
// every flush interval the live connections' counters are read, the
// interval's records computed and appended to the log file. When it
// stops it flushes once more, so a restart loses no interval's records
// (the next process counts live connections from its first reading, so
// nothing is counted twice).
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/calicong/calico/internal/node/flowlogs"
	"github.com/calicong/calico/internal/node/flowlogs/event"
	"github.com/calicong/calico/internal/node/flowlogs/logfile"
)

// Conntrack is the conntrack reader (flowlogs/conntrack.Reader).
type Conntrack interface {
	Run(ctx context.Context, out chan<- event.Conn) error
	Dump(ctx context.Context) ([]event.Conn, error)
}

// NFLOG is the verdict reader (flowlogs/nflog.Reader).
type NFLOG interface {
	Run(ctx context.Context, out chan<- event.Verdict) error
}

// Config assembles a runner.
type Config struct {
	Interval  time.Duration
	Collector *flowlogs.Collector
	Conntrack Conntrack
	NFLOG     NFLOG
	// File receives the records; nil writes none (metrics only).
	File *logfile.Writer
	// Flush computes the interval's records (Collector.Flush where the
	// oracle may be used); nil calls Collector.Flush directly.
	Flush func(ctx context.Context, now time.Time) []flowlogs.Record
	Now   func() time.Time
	Log   *slog.Logger
}

// Run collects until ctx ends, then flushes a last time.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Interval <= 0 {
		return fmt.Errorf("flow logs: flush interval %v must be positive", cfg.Interval)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Flush == nil {
		cfg.Flush = func(_ context.Context, now time.Time) []flowlogs.Record { return cfg.Collector.Flush(now) }
	}
	readers, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	conns := make(chan event.Conn, 4096)
	verdicts := make(chan event.Verdict, 4096)
	failed := make(chan error, 2)
	go func() { failed <- wrap("conntrack", cfg.Conntrack.Run(readers, conns)) }()
	go func() { failed <- wrap("NFLOG", cfg.NFLOG.Run(readers, verdicts)) }()

	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case c := <-conns:
			cfg.Collector.OnConn(c)
		case v := <-verdicts:
			cfg.Collector.OnVerdict(v)
		case <-tick.C:
			flush(ctx, cfg)
		case err := <-failed:
			if err != nil && ctx.Err() == nil {
				return err
			}
		case <-ctx.Done():
			// What arrived is part of the last interval.
			for drained := false; !drained; {
				select {
				case c := <-conns:
					cfg.Collector.OnConn(c)
				case v := <-verdicts:
					cfg.Collector.OnVerdict(v)
				default:
					drained = true
				}
			}
			flush(context.WithoutCancel(ctx), cfg)
			return nil
		}
	}
}

// flush reads the live connections' counters, computes the records and
// writes them.
func flush(ctx context.Context, cfg Config) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	live, err := cfg.Conntrack.Dump(dctx)
	cancel()
	if err != nil {
		cfg.Log.Warn("reading conntrack's counters for flow logs; live connections count from the next reading", "err", err)
	}
	for _, c := range live {
		cfg.Collector.OnConn(c)
	}
	records := cfg.Flush(ctx, cfg.Now())
	if cfg.File == nil || len(records) == 0 {
		return
	}
	if err := logfile.WriteJSONLines(cfg.File, records); err != nil {
		cfg.Log.Error("writing flow logs", "err", err, "records", len(records))
	}
}

func wrap(what string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("flow logs: %s reader: %w", what, err)
}
