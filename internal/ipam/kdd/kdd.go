// Package kdd stores IPAM objects in the Kubernetes API (the CRDs of
// projectcalico.org/v3), with compare-and-swap on resourceVersion.
package kdd

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/crdclient"
	"github.com/calicong/calico/internal/ipam"
)

// Store is ipam.Store over the API server.
type Store struct{ c *crdclient.Client }

// New wraps a client.
func New(c *crdclient.Client) *Store { return &Store{c: c} }

// Wrap maps API errors to ipam's.
func Wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %w", ipam.ErrNotFound, err)
	case apierrors.IsAlreadyExists(err):
		return fmt.Errorf("%w: %w", ipam.ErrExists, err)
	case apierrors.IsConflict(err):
		return fmt.Errorf("%w: %w", ipam.ErrConflict, err)
	}
	return err
}

func (s *Store) Get(ctx context.Context, kind v3.KindInfo, name string) (v3.Object, error) {
	o, err := s.c.Get(ctx, kind, "", name)
	return o, Wrap(err)
}

func (s *Store) List(ctx context.Context, kind v3.KindInfo) ([]v3.Object, error) {
	os, err := s.c.List(ctx, kind, "")
	return os, Wrap(err)
}

// GetCached reads from the API server's watch cache (ipam.CachedLister).
func (s *Store) GetCached(ctx context.Context, kind v3.KindInfo, name string) (v3.Object, error) {
	o, err := s.c.GetCached(ctx, kind, "", name)
	return o, Wrap(err)
}

// ListCached lists from the API server's watch cache (ipam.CachedLister).
func (s *Store) ListCached(ctx context.Context, kind v3.KindInfo) ([]v3.Object, error) {
	os, err := s.c.ListCached(ctx, kind, "")
	return os, Wrap(err)
}

// ListCachedSelected lists, from the watch cache, the objects that match
// a label selector (ipam.LabelLister).
func (s *Store) ListCachedSelected(ctx context.Context, kind v3.KindInfo, selector string) ([]v3.Object, error) {
	os, err := s.c.ListCachedSelected(ctx, kind, "", selector)
	return os, Wrap(err)
}

// ListSelected lists, consistently, the objects that match a label
// selector (ipam.SelectLister).
func (s *Store) ListSelected(ctx context.Context, kind v3.KindInfo, selector string) ([]v3.Object, error) {
	if !kind.Stored {
		return nil, fmt.Errorf("%s resources are derived from Kubernetes objects, not stored", kind.Kind)
	}
	list := kind.NewList()
	if err := s.c.Request("GET", kind, "").Param("labelSelector", selector).Do(ctx).Into(list); err != nil {
		return nil, Wrap(err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]v3.Object, 0, len(items))
	for _, it := range items {
		o, ok := it.(v3.Object)
		if !ok {
			return nil, fmt.Errorf("list %s: unexpected item %T", kind.Plural, it)
		}
		out = append(out, crdclient.Fill(kind, o))
	}
	return out, nil
}

func (s *Store) Create(ctx context.Context, obj v3.Object) (v3.Object, error) {
	o, err := s.c.Create(ctx, obj)
	return o, Wrap(err)
}

func (s *Store) Update(ctx context.Context, obj v3.Object) (v3.Object, error) {
	o, err := s.c.Update(ctx, obj)
	return o, Wrap(err)
}

func (s *Store) Delete(ctx context.Context, kind v3.KindInfo, name, resourceVersion string) error {
	var pre *metav1.Preconditions
	if resourceVersion != "" {
		pre = &metav1.Preconditions{ResourceVersion: &resourceVersion}
	}
	return Wrap(s.c.Delete(ctx, kind, "", name, pre))
}

// NewIPAMWith is an allocator over a light client, with the given source
// of node labels.
func NewIPAMWith(c *crdclient.Client, nodeLabels func(ctx context.Context, node string) (map[string]string, error)) *ipam.IPAM {
	return ipam.New(ipam.Options{Store: New(c), NodeLabels: nodeLabels})
}
