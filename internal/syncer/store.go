package syncer

import (
	"fmt"
	"log/slog"
	"sync"

	"k8s.io/client-go/tools/cache"

	"github.com/calicong/calico/internal/model"
)

// entry is what the store remembers about one Kubernetes object: the key it
// contributed (if any) and the revision that was last sent.
type entry struct {
	key      model.Key
	revision string
	present  bool // a non-nil value was sent for key
	seen     bool // mark for Replace's mark-and-sweep
}

// store receives a reflector's events for one source and turns them into
// stream updates. It keeps keys and revisions only, never objects.
//
// The reflector calls it from one goroutine; the mutex only guards against
// the syncer reading counters.
type store struct {
	src   *Source
	log   *slog.Logger
	emit  func(updates []model.Update, synced bool)
	mu    sync.Mutex
	byObj map[string]*entry // namespace/name → entry
}

var (
	_ cache.ReflectorStore    = (*store)(nil)
	_ cache.TransformingStore = (*store)(nil)
)

func newStore(src *Source, log *slog.Logger, emit func([]model.Update, bool)) *store {
	return &store{src: src, log: log, emit: emit, byObj: map[string]*entry{}}
}

// Transformer lets the reflector convert objects as they stream in during
// a watch-list, so its temporary store holds only converted results.
func (s *store) Transformer() cache.TransformFunc { return s.src.transform }

func (s *store) Add(obj any) error    { return s.upsert(obj) }
func (s *store) Update(obj any) error { return s.upsert(obj) }
func (s *store) Resync() error        { return nil }

func (s *store) upsert(obj any) error {
	c, err := s.convert(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	updates := s.apply(nil, c)
	s.mu.Unlock()
	if len(updates) > 0 {
		s.emit(updates, false)
	}
	return nil
}

func (s *store) Delete(obj any) error {
	var id string
	switch o := obj.(type) {
	case cache.DeletedFinalStateUnknown:
		id = o.Key
	default:
		c, err := s.convert(obj)
		if err != nil {
			return err
		}
		id = objID(c)
	}
	s.mu.Lock()
	e := s.byObj[id]
	delete(s.byObj, id)
	s.mu.Unlock()
	if e != nil && e.present {
		s.emit([]model.Update{{KVPair: model.KVPair{Key: e.key}, UpdateType: model.UpdateTypeDeleted}}, false)
	}
	return nil
}

// Replace is called after every (re)list: it applies the listed objects and
// sends deletions for keys that are no longer there, so a relist after a
// watch expiry converges without the consumer having to diff anything.
func (s *store) Replace(list []any, _ string) error {
	s.mu.Lock()
	for _, e := range s.byObj {
		e.seen = false
	}
	var updates []model.Update
	for _, obj := range list {
		c, err := s.convert(obj)
		if err != nil {
			s.log.Warn("skipping unreadable object in list", "source", s.src.Name, "err", err)
			continue
		}
		updates = s.apply(updates, c)
	}
	for id, e := range s.byObj {
		if e.seen {
			continue
		}
		if e.present {
			updates = append(updates, model.Update{KVPair: model.KVPair{Key: e.key}, UpdateType: model.UpdateTypeDeleted})
		}
		delete(s.byObj, id)
	}
	s.mu.Unlock()
	s.emit(updates, true)
	return nil
}

// apply records a converted object and appends the updates it causes. The
// caller holds s.mu.
func (s *store) apply(updates []model.Update, c *converted) []model.Update {
	id := objID(c)
	e := s.byObj[id]
	if e == nil {
		e = &entry{}
		s.byObj[id] = e
	}
	e.seen = true
	if e.revision == c.ResourceVersion && e.revision != "" && (e.present || !c.ok) {
		return updates // no-op update, e.g. the same object again after a relist
	}
	e.revision = c.ResourceVersion
	if !c.ok {
		if e.present {
			updates = append(updates, model.Update{KVPair: model.KVPair{Key: e.key}, UpdateType: model.UpdateTypeDeleted})
			e.present = false
		}
		return updates
	}
	if e.present && e.key != c.key {
		// The object now maps to another key (a pod bound to a node, say).
		updates = append(updates, model.Update{KVPair: model.KVPair{Key: e.key}, UpdateType: model.UpdateTypeDeleted})
		e.present = false
	}
	e.key = c.key
	value := c.value
	if c.err != nil {
		s.log.Warn("invalid resource; treating it as absent", "key", c.key.String(), "err", c.err)
		value = nil
	}
	ut := model.UpdateTypeUpdated
	if !e.present {
		ut = model.UpdateTypeNew
	}
	if value == nil {
		ut = model.UpdateTypeDeleted
		if !e.present {
			return updates
		}
	}
	e.present = value != nil
	return append(updates, model.Update{KVPair: model.KVPair{Key: c.key, Value: value, Revision: c.ResourceVersion}, UpdateType: ut})
}

func (s *store) convert(obj any) (*converted, error) {
	t, err := s.src.transform(obj)
	if err != nil {
		return nil, err
	}
	c, ok := t.(*converted)
	if !ok {
		return nil, fmt.Errorf("source %s: unexpected object %T", s.src.Name, obj)
	}
	return c, nil
}

func objID(c *converted) string {
	if c.Namespace == "" {
		return c.Name
	}
	return c.Namespace + "/" + c.Name
}
