package ipam

import (
	"context"
	"errors"
	"fmt"

	v3 "github.com/calicong/calico/api/v3"
)

// Errors a Store returns (wrapped) and the allocator reports.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict: the object changed since it was read (compare-and-swap
	// failed).
	ErrConflict = errors.New("conflict")
	// ErrInUse: a specific address is already assigned.
	ErrInUse = errors.New("address in use")
	// ErrExhausted: no address could be found in the pools allowed.
	ErrExhausted = errors.New("no addresses available")
	// ErrBlockLimit: the node holds maxBlocksPerHost blocks, all full,
	// and may claim no more (it is an ErrExhausted too).
	ErrBlockLimit = fmt.Errorf("%w: the node's block limit is reached", ErrExhausted)
	// ErrNoPools: no pool may be used for the request.
	ErrNoPools = errors.New("no usable IP pool")
)

// Store reads and writes IPAM objects. Update and Delete are
// compare-and-swap on the object's resourceVersion: they fail with
// ErrConflict if it changed. Delete with an empty resourceVersion deletes
// whatever is there.
type Store interface {
	Get(ctx context.Context, kind v3.KindInfo, name string) (v3.Object, error)
	List(ctx context.Context, kind v3.KindInfo) ([]v3.Object, error)
	Create(ctx context.Context, obj v3.Object) (v3.Object, error)
	Update(ctx context.Context, obj v3.Object) (v3.Object, error)
	Delete(ctx context.Context, kind v3.KindInfo, name, resourceVersion string) error
}

// CachedLister is a Store that can also list from a cache that may be a
// little stale but is much faster (the API server's watch cache). IPAM
// uses it only where a stale answer is safe: every write is still a
// compare-and-swap on a fresh read.
type CachedLister interface {
	ListCached(ctx context.Context, kind v3.KindInfo) ([]v3.Object, error)
	GetCached(ctx context.Context, kind v3.KindInfo, name string) (v3.Object, error)
}

// LabelLister is a CachedLister that can also narrow a cached list to the
// objects that match a label selector (optional: without it the allocator
// filters a full list).
type LabelLister interface {
	ListCachedSelected(ctx context.Context, kind v3.KindInfo, selector string) ([]v3.Object, error)
}

// SelectLister is a Store that can list, consistently, the objects that
// match a label selector (optional: without it a full list is filtered).
type SelectLister interface {
	ListSelected(ctx context.Context, kind v3.KindInfo, selector string) ([]v3.Object, error)
}

// getCached reads from the cache when there is one; a miss (an object
// created a moment ago) is read again consistently.
func (m *IPAM) getCached(ctx context.Context, kind v3.KindInfo, name string) (v3.Object, error) {
	if c, ok := m.store.(CachedLister); ok {
		if o, err := c.GetCached(ctx, kind, name); !errors.Is(err, ErrNotFound) {
			return o, err
		}
	}
	return m.store.Get(ctx, kind, name)
}

func (m *IPAM) listCached(ctx context.Context, kind v3.KindInfo) ([]v3.Object, error) {
	if c, ok := m.store.(CachedLister); ok {
		return c.ListCached(ctx, kind)
	}
	return m.store.List(ctx, kind)
}

// Kinds IPAM reads and writes.
var (
	KindBlock       = mustKind("IPAMBlock")
	KindAffinity    = mustKind("BlockAffinity")
	KindHandle      = mustKind("IPAMHandle")
	KindPool        = mustKind("IPPool")
	KindReservation = mustKind("IPReservation")
	KindConfig      = mustKind("IPAMConfiguration")
)

func mustKind(name string) v3.KindInfo {
	k, ok := v3.KindFor(name)
	if !ok {
		panic("ipam: unknown kind " + name)
	}
	return k
}
