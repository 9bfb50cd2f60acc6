package ipam

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/labels"

	v3 "github.com/calicong/calico/api/v3"
)

// memStore is an in-memory Store with the API server's compare-and-swap
// semantics, for fast tests of races and failures. Tests against the real
// API server are in kdd.
type memStore struct {
	mu   sync.Mutex
	rv   int
	objs map[string]map[string]v3.Object
	// failUpdate, if set, is called before every write; an error fails it.
	failWrite func(op string, obj v3.Object) error
	writes    int
}

func newMemStore() *memStore { return &memStore{objs: map[string]map[string]v3.Object{}} }

func (s *memStore) Get(_ context.Context, kind v3.KindInfo, name string) (v3.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objs[kind.Kind][name]
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", kind.Kind, name, ErrNotFound)
	}
	return o.DeepCopyObject().(v3.Object), nil
}

func (s *memStore) List(_ context.Context, kind v3.KindInfo) ([]v3.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.objs[kind.Kind] {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []v3.Object
	for _, n := range names {
		out = append(out, s.objs[kind.Kind][n].DeepCopyObject().(v3.Object))
	}
	return out, nil
}

// ListCachedSelected is ipam.LabelLister (the store is never stale).
func (s *memStore) ListCachedSelected(ctx context.Context, kind v3.KindInfo, selector string) ([]v3.Object, error) {
	return s.ListSelected(ctx, kind, selector)
}

// ListSelected is ipam.SelectLister.
func (s *memStore) ListSelected(ctx context.Context, kind v3.KindInfo, selector string) ([]v3.Object, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, err
	}
	all, err := s.List(ctx, kind)
	var out []v3.Object
	for _, o := range all {
		if sel.Matches(labels.Set(o.GetLabels())) {
			out = append(out, o)
		}
	}
	return out, err
}

func (s *memStore) write(op string, obj v3.Object) error {
	s.writes++
	if s.failWrite != nil {
		return s.failWrite(op, obj)
	}
	return nil
}

func kindName(obj v3.Object) string {
	k, _ := v3.KindOf(obj)
	return k.Kind
}

func (s *memStore) Create(_ context.Context, obj v3.Object) (v3.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := kindName(obj)
	if _, ok := s.objs[k][obj.GetName()]; ok {
		return nil, fmt.Errorf("%s %s: %w", k, obj.GetName(), ErrExists)
	}
	if err := s.write("create", obj); err != nil {
		return nil, err
	}
	o := obj.DeepCopyObject().(v3.Object)
	s.rv++
	o.SetResourceVersion(strconv.Itoa(s.rv))
	if s.objs[k] == nil {
		s.objs[k] = map[string]v3.Object{}
	}
	s.objs[k][o.GetName()] = o
	return o.DeepCopyObject().(v3.Object), nil
}

func (s *memStore) Update(_ context.Context, obj v3.Object) (v3.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := kindName(obj)
	cur, ok := s.objs[k][obj.GetName()]
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", k, obj.GetName(), ErrNotFound)
	}
	if cur.GetResourceVersion() != obj.GetResourceVersion() {
		return nil, fmt.Errorf("%s %s: %w", k, obj.GetName(), ErrConflict)
	}
	if err := s.write("update", obj); err != nil {
		return nil, err
	}
	o := obj.DeepCopyObject().(v3.Object)
	s.rv++
	o.SetResourceVersion(strconv.Itoa(s.rv))
	s.objs[k][o.GetName()] = o
	return o.DeepCopyObject().(v3.Object), nil
}

func (s *memStore) Delete(_ context.Context, kind v3.KindInfo, name, rv string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.objs[kind.Kind][name]
	if !ok {
		return fmt.Errorf("%s %s: %w", kind.Kind, name, ErrNotFound)
	}
	if rv != "" && cur.GetResourceVersion() != rv {
		return fmt.Errorf("%s %s: %w", kind.Kind, name, ErrConflict)
	}
	if err := s.write("delete", cur); err != nil {
		return err
	}
	delete(s.objs[kind.Kind], name)
	return nil
}
