// Package loops runs one goroutine per resource (a feed's pulls, an
// alert rule's runs, a webhook's deliveries) for as long as the resource
// stays as it was: a changed spec restarts its loop, a deleted or
// disabled resource stops it. Status writes, which leave the spec alone,
// leave the loop running.
package loops

import (
	"context"
	"reflect"
	"sync"

	"k8s.io/client-go/tools/cache"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
)

// Set is the loops of one kind, by resource name; S is what restarts a
// loop when it changes (the spec).
type Set[S any] struct {
	mu    sync.Mutex
	loops map[string]*loop[S]
}

type loop[S any] struct {
	spec   S
	cancel context.CancelFunc
	done   chan struct{}
}

// Ensure runs run for name with spec: nothing changes if it already runs
// with an equal spec; otherwise the old loop is stopped (and waited for)
// and run started.
func (s *Set[S]) Ensure(ctx context.Context, name string, spec S, run func(ctx context.Context)) {
	s.mu.Lock()
	old := s.loops[name]
	s.mu.Unlock()
	if old != nil && reflect.DeepEqual(old.spec, spec) {
		return
	}
	s.Stop(name)
	lctx, cancel := context.WithCancel(ctx)
	l := &loop[S]{spec: spec, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	if s.loops == nil {
		s.loops = map[string]*loop[S]{}
	}
	s.loops[name] = l
	s.mu.Unlock()
	go func() {
		defer close(l.done)
		run(lctx)
	}()
}

// Stop ends name's loop, if it runs, and waits for it.
func (s *Set[S]) Stop(name string) {
	s.mu.Lock()
	l := s.loops[name]
	delete(s.loops, name)
	s.mu.Unlock()
	if l != nil {
		l.cancel()
		<-l.done
	}
}

// StopAll ends every loop.
func (s *Set[S]) StopAll() {
	s.mu.Lock()
	names := make([]string, 0, len(s.loops))
	for n := range s.loops {
		names = append(names, n)
	}
	s.mu.Unlock()
	for _, n := range names {
		s.Stop(n)
	}
}

// Watch calls update with every resource of a kind as it is added or
// changed, and deleted with the name of each one deleted, until ctx
// ends.
func Watch[T v3.Object](ctx context.Context, c *datastore.Client, kind v3.KindInfo, update func(T), deleted func(name string)) error {
	inf := cache.NewSharedIndexInformer(c.ListWatch(kind, ""), kind.New(), 0, cache.Indexers{})
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { update(o.(T)) },
		UpdateFunc: func(_, o any) { update(o.(T)) },
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if t, ok := o.(T); ok {
				deleted(t.GetName())
			}
		},
	})
	if err != nil {
		return err
	}
	inf.RunWithContext(ctx)
	return nil
}
