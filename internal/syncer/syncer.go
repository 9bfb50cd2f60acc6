package syncer

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/calicong/calico/internal/model"
)

// batch is what a source's store hands to the syncer's main loop.
type batch struct {
	source  int
	updates []model.Update
	synced  bool // the source finished a (re)list
}

// Syncer watches a set of sources and feeds their converted resources, and
// the overall sync status, to one SyncerCallbacks.
type Syncer struct {
	sources []*Source
	cb      model.SyncerCallbacks
	log     *slog.Logger
	batches chan batch
}

// New creates a syncer. It starts nothing; call Run.
func New(sources []Source, cb model.SyncerCallbacks, log *slog.Logger) *Syncer {
	s := &Syncer{cb: cb, log: log, batches: make(chan batch, 64)}
	for i := range sources {
		s.sources = append(s.sources, &sources[i])
	}
	return s
}

// Run watches until ctx ends. It reports WaitForDatastore first,
// ResyncInProgress once any source has listed, and InSync once every source
// has listed; callbacks are made from this goroutine only.
func (s *Syncer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.cb.OnStatusUpdated(model.WaitForDatastore)
	status := model.WaitForDatastore

	var wg sync.WaitGroup
	defer wg.Wait()
	// Reflectors log through the context's logger: route it to ours.
	klogger := logr.FromSlogHandler(s.log.Handler())
	ctx = klog.NewContext(ctx, klogger)
	for i, src := range s.sources {
		st := newStore(src, s.log, func(updates []model.Update, synced bool) {
			select {
			case s.batches <- batch{source: i, updates: updates, synced: synced}:
			case <-ctx.Done():
			}
		})
		r := cache.NewReflectorWithOptions(src.ListWatch, src.Example, st, cache.ReflectorOptions{
			Name:            src.Name,
			Logger:          &klogger,
			MinWatchTimeout: 5 * time.Minute,
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.RunWithContext(ctx)
		}()
	}

	synced := make([]bool, len(s.sources))
	nSynced := 0
	var pending []model.Update
	for {
		var b batch
		select {
		case <-ctx.Done():
			return nil
		case b = <-s.batches:
		}
		// Coalesce whatever else is already queued into one callback.
		pending = append(pending[:0], b.updates...)
		for more := true; more; {
			if b.synced && !synced[b.source] {
				synced[b.source] = true
				nSynced++
			}
			select {
			case b = <-s.batches:
				pending = append(pending, b.updates...)
			default:
				more = false
			}
		}
		if status == model.WaitForDatastore && nSynced > 0 {
			status = model.ResyncInProgress
			s.cb.OnStatusUpdated(status)
		}
		if len(pending) > 0 {
			s.cb.OnUpdates(pending)
			pending = nil
		}
		if status != model.InSync && nSynced == len(s.sources) {
			status = model.InSync
			s.cb.OnStatusUpdated(status)
		}
	}
}
