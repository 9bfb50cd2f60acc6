// Package reconcile runs a reconciliation function when poked: at once
// after a quiet spell, at most once per interval in a burst (each run
// taking in everything that arrived meanwhile), periodically if asked,
// and again with back-off after a failure.
package reconcile

import (
	"context"
	"time"
)

// Trigger pokes a loop; pokes before the loop gets to them merge into one.
type Trigger chan struct{}

// NewTrigger makes a trigger.
func NewTrigger() Trigger { return make(Trigger, 1) }

// Poke asks for a run; it never blocks.
func (t Trigger) Poke() {
	select {
	case t <- struct{}{}:
	default:
	}
}

// Loop is a reconciliation loop.
type Loop struct {
	Trigger Trigger
	// MinInterval is the least time between two runs.
	MinInterval time.Duration
	// Resync, if positive, runs the function this often without pokes.
	Resync time.Duration
	// Run reconciles; an error is retried after FirstRetry (default 1s),
	// doubling to 30s, until a run succeeds.
	Run        func(ctx context.Context) error
	FirstRetry time.Duration
	// OnError, if set, hears every failure.
	OnError func(error)
}

// Serve runs the loop until ctx ends.
func (l Loop) Serve(ctx context.Context) {
	var resync <-chan time.Time
	if l.Resync > 0 {
		t := time.NewTicker(l.Resync)
		defer t.Stop()
		resync = t.C
	}
	var retry time.Duration
	var last time.Time
	for {
		var again <-chan time.Time
		if retry > 0 {
			again = time.After(retry)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.Trigger:
		case <-resync:
		case <-again:
		}
		if gap := time.Until(last.Add(l.MinInterval)); gap > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(gap):
			}
		}
		// What arrived while waiting is part of this run.
		select {
		case <-l.Trigger:
		default:
		}
		last = time.Now()
		if err := l.Run(ctx); err != nil {
			if l.OnError != nil {
				l.OnError(err)
			}
			first := l.FirstRetry
			if first <= 0 {
				first = time.Second
			}
			retry = min(max(2*retry, first), max(first, 30*time.Second))
			continue
		}
		retry = 0
	}
}
