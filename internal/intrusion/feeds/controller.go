package feeds

import (
	"context"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/intrusion/loops"
)

// DefaultPeriod is pull.period's default.
const DefaultPeriod = 24 * time.Hour

// Retry bounds the back-off after a failed pull: from FirstRetry,
// doubling, at most the feed's period.
const FirstRetry = 10 * time.Second

// Contents receives each feed's content after a pull (the search
// matches the logs against it), and hears when a feed goes.
type Contents interface {
	Put(feed, content string, entries []string)
	Remove(feed string)
}

// Controller keeps every enabled, pulled feed: one loop per feed, which
// pulls at once and then every pull.period (retrying a failure sooner,
// with back-off). A feed that changes restarts its loop; one that is
// disabled or deleted stops it (its GlobalNetworkSet goes with it,
// through its owner reference).
type Controller struct {
	Syncer *Syncer
	// Contents, if set, is given each feed's content.
	Contents Contents
	// Linseed, if set, is read for the feeds without pull (pushed to its
	// threat-feed endpoints), every PushPoll.
	Linseed  Linseed
	PushPoll time.Duration

	loops loops.Set[v3.GlobalThreatFeedSpec]
}

// Run watches the feeds until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	err := loops.Watch(ctx, c.Syncer.Client, feedKind, func(f *v3.GlobalThreatFeed) {
		if f.Spec.Mode == v3.ThreatFeedModeDisabled || (f.Spec.Pull == nil && c.Linseed == nil) {
			c.stop(f.Name)
			return
		}
		f = f.DeepCopy()
		if f.Spec.Pull == nil {
			c.loops.Ensure(ctx, f.Name, f.Spec, func(ctx context.Context) { c.runPushed(ctx, f) })
			return
		}
		c.loops.Ensure(ctx, f.Name, f.Spec, func(ctx context.Context) { c.run(ctx, f) })
	}, c.stop)
	c.loops.StopAll()
	return err
}

func (c *Controller) stop(name string) {
	c.loops.Stop(name)
	if c.Contents != nil {
		c.Contents.Remove(name)
	}
}

// run pulls one feed until ctx ends.
func (c *Controller) run(ctx context.Context, f *v3.GlobalThreatFeed) {
	period := DefaultPeriod
	if p := f.Spec.Pull.Period; p != nil && p.Duration > 0 {
		period = p.Duration
	}
	st := &State{}
	retry := FirstRetry
	for {
		next := period
		if err := c.Syncer.Sync(ctx, f, st); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.Syncer.Log.Warn("threat feed pull failed; the last good content stays", "feed", f.Name, "err", err, "retry", min(retry, period))
			next = min(retry, period)
			retry = min(2*retry, period)
		} else {
			retry = FirstRetry
			if c.Contents != nil && st.changed {
				c.Contents.Put(f.Name, f.Spec.Content, st.Entries)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}
