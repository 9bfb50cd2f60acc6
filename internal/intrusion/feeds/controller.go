package feeds

import (
	"context"
	"reflect"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"

	v3 "github.com/calicong/calico/api/v3"
)

// DefaultPeriod is pull.period's default.
const DefaultPeriod = 24 * time.Hour

// Retry bounds the back-off after a failed pull: from FirstRetry,
// doubling, at most the feed's period.
const FirstRetry = 10 * time.Second

// Controller keeps every enabled, pulled feed: one loop per feed, which
// pulls at once and then every pull.period (retrying a failure sooner,
// with back-off). A feed that changes restarts its loop; one that is
// disabled or deleted stops it (its GlobalNetworkSet goes with it,
// through its owner reference).
type Controller struct {
	Syncer *Syncer

	mu    sync.Mutex
	loops map[string]*loop
}

type loop struct {
	spec   v3.GlobalThreatFeedSpec
	cancel context.CancelFunc
	done   chan struct{}
}

// Run watches the feeds until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.loops = map[string]*loop{}
	inf := cache.NewSharedIndexInformer(c.Syncer.Client.ListWatch(feedKind, ""), feedKind.New(), 0, cache.Indexers{})
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { c.update(ctx, o.(*v3.GlobalThreatFeed)) },
		UpdateFunc: func(_, o any) { c.update(ctx, o.(*v3.GlobalThreatFeed)) },
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if f, ok := o.(*v3.GlobalThreatFeed); ok {
				c.stop(f.Name)
			}
		},
	})
	if err != nil {
		return err
	}
	inf.RunWithContext(ctx)
	c.mu.Lock()
	names := make([]string, 0, len(c.loops))
	for n := range c.loops {
		names = append(names, n)
	}
	c.mu.Unlock()
	for _, n := range names {
		c.stop(n)
	}
	return nil
}

// update starts, restarts or stops a feed's loop for its spec (status
// writes, which change only the status, leave it running).
func (c *Controller) update(ctx context.Context, f *v3.GlobalThreatFeed) {
	c.mu.Lock()
	old := c.loops[f.Name]
	c.mu.Unlock()
	if old != nil && reflect.DeepEqual(old.spec, f.Spec) {
		return
	}
	c.stop(f.Name)
	if f.Spec.Mode == v3.ThreatFeedModeDisabled || f.Spec.Pull == nil {
		return
	}
	lctx, cancel := context.WithCancel(ctx)
	l := &loop{spec: *f.Spec.DeepCopy(), cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	c.loops[f.Name] = l
	c.mu.Unlock()
	go func() {
		defer close(l.done)
		c.run(lctx, f.DeepCopy())
	}()
}

func (c *Controller) stop(name string) {
	c.mu.Lock()
	l := c.loops[name]
	delete(c.loops, name)
	c.mu.Unlock()
	if l != nil {
		l.cancel()
		<-l.done
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
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}
