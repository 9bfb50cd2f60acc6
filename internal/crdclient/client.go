// Package crdclient reads and writes projectcalico.org/v3 resources (the
// CRDs) through the Kubernetes API with a plain REST client. It is the
// light part of internal/datastore, without client-go's typed clients for
// every Kubernetes API group, so that short-lived programs (the CNI
// plugins, started for every pod) start fast.
package crdclient

import (
	"context"
	"fmt"
	"os"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	v3 "github.com/calicong/calico/api/v3"
)

// Scheme knows the projectcalico.org/v3 kinds.
var Scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := v3.AddToScheme(s); err != nil {
		panic(err) // a programming error in the type registry
	}
	return s
}

// Client reads and writes the stored projectcalico.org/v3 kinds.
type Client struct {
	Config *rest.Config
	REST   rest.Interface
}

// LoadConfig reads a kubeconfig: the given path, else $KUBECONFIG, else
// ~/.kube/config (kubectl's rules).
func LoadConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		where := kubeconfig
		if where == "" {
			where = os.Getenv("KUBECONFIG")
		}
		if where == "" {
			where = "~/.kube/config"
		}
		return nil, fmt.Errorf("load kubeconfig %s: %w", where, err)
	}
	return cfg, nil
}

// New creates a client. It does not contact the API server.
func New(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 200, 400
	}
	ccfg := rest.CopyConfig(cfg)
	ccfg.GroupVersion = &v3.SchemeGroupVersion
	ccfg.APIPath = "/apis"
	ccfg.NegotiatedSerializer = serializer.NewCodecFactory(Scheme).WithoutConversion()
	ccfg.ContentType = runtime.ContentTypeJSON
	c, err := rest.RESTClientFor(ccfg)
	if err != nil {
		return nil, fmt.Errorf("calico client: %w", err)
	}
	return &Client{Config: cfg, REST: c}, nil
}

// Request starts a request for a kind (in a namespace, for namespaced
// kinds).
func (c *Client) Request(verb string, kind v3.KindInfo, ns string) *rest.Request {
	r := c.REST.Verb(verb).Resource(kind.Plural)
	if kind.Namespaced && ns != "" {
		r = r.Namespace(ns)
	}
	return r
}

// Get reads one stored resource.
func (c *Client) Get(ctx context.Context, kind v3.KindInfo, ns, name string) (v3.Object, error) {
	if !kind.Stored {
		return nil, fmt.Errorf("%s resources are derived from Kubernetes objects, not stored", kind.Kind)
	}
	obj := kind.New()
	if err := c.Request("GET", kind, ns).Name(name).Do(ctx).Into(obj); err != nil {
		return nil, err
	}
	return Fill(kind, obj), nil
}

// GetCached is Get served from the API server's watch cache
// (resourceVersion "0"): faster, possibly a little stale, and NotFound for
// an object created a moment ago. Use it only where a stale answer is
// safe.
func (c *Client) GetCached(ctx context.Context, kind v3.KindInfo, ns, name string) (v3.Object, error) {
	if !kind.Stored {
		return nil, fmt.Errorf("%s resources are derived from Kubernetes objects, not stored", kind.Kind)
	}
	obj := kind.New()
	if err := c.Request("GET", kind, ns).Name(name).Param("resourceVersion", "0").Do(ctx).Into(obj); err != nil {
		return nil, err
	}
	return Fill(kind, obj), nil
}

// List reads every resource of a stored kind, in one namespace or (ns ==
// "") in all.
func (c *Client) List(ctx context.Context, kind v3.KindInfo, ns string) ([]v3.Object, error) {
	return c.list(ctx, kind, ns, false)
}

// ListCached is List served from the API server's watch cache without
// waiting for it to catch up with etcd (resourceVersion "0"): much faster
// for kinds that are rarely written, but possibly a little stale. Use it
// only where a stale answer is safe.
func (c *Client) ListCached(ctx context.Context, kind v3.KindInfo, ns string) ([]v3.Object, error) {
	return c.list(ctx, kind, ns, true)
}

// ListCachedSelected lists, from the API server's watch cache, the
// objects that match a label selector.
func (c *Client) ListCachedSelected(ctx context.Context, kind v3.KindInfo, ns, labelSelector string) ([]v3.Object, error) {
	return c.list(ctx, kind, ns, true, labelSelector)
}

func (c *Client) list(ctx context.Context, kind v3.KindInfo, ns string, cached bool, labelSelector ...string) ([]v3.Object, error) {
	if !kind.Stored {
		return nil, fmt.Errorf("%s resources are derived from Kubernetes objects, not stored", kind.Kind)
	}
	list := kind.NewList()
	r := c.Request("GET", kind, ns)
	if cached {
		r = r.Param("resourceVersion", "0")
	}
	for _, sel := range labelSelector {
		r = r.Param("labelSelector", sel)
	}
	if err := r.Do(ctx).Into(list); err != nil {
		return nil, err
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
		out = append(out, Fill(kind, o))
	}
	return out, nil
}

// writeOptions are the settings WriteOptions adjust.
type writeOptions struct {
	dryRun bool
}

// WriteOption modifies a write.
type WriteOption func(*writeOptions)

// DryRun makes the API server run every check of a write (schema, CEL,
// admission) without storing anything.
func DryRun() WriteOption { return func(o *writeOptions) { o.dryRun = true } }

func collect(opts []WriteOption) writeOptions {
	var w writeOptions
	for _, o := range opts {
		o(&w)
	}
	return w
}

// withOptions sets options as query parameters (create, update). Deletes
// carry theirs in the DeleteOptions body instead, because the API server
// ignores the query when a body is present.
func withOptions(r *rest.Request, opts []WriteOption) *rest.Request {
	if collect(opts).dryRun {
		r = r.Param("dryRun", metav1.DryRunAll)
	}
	return r
}

// Create stores a new resource and returns it as stored.
func (c *Client) Create(ctx context.Context, obj v3.Object, opts ...WriteOption) (v3.Object, error) {
	kind, err := storedKind(obj)
	if err != nil {
		return nil, err
	}
	out := kind.New()
	if err := withOptions(c.Request("POST", kind, obj.GetNamespace()), opts).Body(obj).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return Fill(kind, out), nil
}

// Update replaces a resource. obj must carry the resourceVersion it was
// read at; a concurrent change makes the update fail with a conflict.
func (c *Client) Update(ctx context.Context, obj v3.Object, opts ...WriteOption) (v3.Object, error) {
	kind, err := storedKind(obj)
	if err != nil {
		return nil, err
	}
	out := kind.New()
	if err := withOptions(c.Request("PUT", kind, obj.GetNamespace()).Name(obj.GetName()), opts).Body(obj).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return Fill(kind, out), nil
}

// UpdateStatus writes the status subresource.
func (c *Client) UpdateStatus(ctx context.Context, obj v3.Object) (v3.Object, error) {
	kind, err := storedKind(obj)
	if err != nil {
		return nil, err
	}
	out := kind.New()
	if err := c.Request("PUT", kind, obj.GetNamespace()).Name(obj.GetName()).SubResource("status").Body(obj).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return Fill(kind, out), nil
}

// Patch applies a patch of the given type (merge, JSON or, for server-side
// apply, apply) and returns the result.
func (c *Client) Patch(ctx context.Context, kind v3.KindInfo, ns, name string, pt types.PatchType, data []byte) (v3.Object, error) {
	if !kind.Stored {
		return nil, fmt.Errorf("%s resources are derived from Kubernetes objects and cannot be changed directly", kind.Kind)
	}
	out := kind.New()
	if err := c.Request("PATCH", kind, ns).Name(name).Body(data).SetHeader("Content-Type", string(pt)).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return Fill(kind, out), nil
}

// Delete removes a resource. With a non-empty uid or resourceVersion the
// deletion only happens if the stored object still matches.
func (c *Client) Delete(ctx context.Context, kind v3.KindInfo, ns, name string, pre *metav1.Preconditions, opts ...WriteOption) error {
	if !kind.Stored {
		return fmt.Errorf("%s resources are derived from Kubernetes objects and cannot be deleted directly", kind.Kind)
	}
	del := metav1.DeleteOptions{Preconditions: pre}
	if collect(opts).dryRun {
		del.DryRun = []string{metav1.DryRunAll}
	}
	return c.Request("DELETE", kind, ns).Name(name).Body(&del).Do(ctx).Error()
}

func storedKind(obj v3.Object) (v3.KindInfo, error) {
	kind, ok := v3.KindOf(obj)
	if !ok {
		return kind, fmt.Errorf("%T is not a projectcalico.org/v3 kind", obj)
	}
	if !kind.Stored {
		return kind, fmt.Errorf("%s resources are derived from Kubernetes objects and cannot be written directly", kind.Kind)
	}
	return kind, nil
}

// Fill sets apiVersion and kind, which the API server omits from items and
// the decoder clears.
func Fill(kind v3.KindInfo, obj v3.Object) v3.Object {
	obj.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
	return obj
}

// IsNotFound reports whether err says the resource does not exist.
func IsNotFound(err error) bool { return apierrors.IsNotFound(err) }

// IsAlreadyExists reports whether err says the resource already exists.
func IsAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

// IsConflict reports whether err is an optimistic-concurrency conflict.
func IsConflict(err error) bool { return apierrors.IsConflict(err) }
