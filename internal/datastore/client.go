package datastore

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/crdclient"
)

// Scheme knows the projectcalico.org/v3 kinds.
var Scheme = crdclient.Scheme

// Client reads and writes Calico resources (CRDs in projectcalico.org/v3,
// through the embedded crdclient.Client) and the native Kubernetes objects
// Calico derives resources from (Profiles, WorkloadEndpoints).
type Client struct {
	*crdclient.Client
	Kube kubernetes.Interface
}

// LoadConfig reads a kubeconfig: the given path, else $KUBECONFIG, else
// ~/.kube/config (kubectl's rules).
func LoadConfig(kubeconfig string) (*rest.Config, error) { return crdclient.LoadConfig(kubeconfig) }

// Connect is LoadConfig and New: a client for the cluster a kubeconfig
// names.
func Connect(kubeconfig string) (*Client, error) {
	rc, err := LoadConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	return New(rc)
}

// New creates a client. It does not contact the API server.
func New(cfg *rest.Config) (*Client, error) {
	cc, err := crdclient.New(cfg)
	if err != nil {
		return nil, err
	}
	// Native objects travel as protobuf: several times cheaper to decode
	// than JSON, which matters when the syncer lists every pod.
	kcfg := rest.CopyConfig(cc.Config)
	kcfg.ContentType = runtime.ContentTypeProtobuf
	kcfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	kube, err := kubernetes.NewForConfig(kcfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &Client{Client: cc, Kube: kube}, nil
}

// Get reads one resource. Synthesised kinds are derived on the fly.
func (c *Client) Get(ctx context.Context, kind v3.KindInfo, ns, name string) (v3.Object, error) {
	if !kind.Stored {
		return c.getSynthesised(ctx, kind, ns, name)
	}
	return c.Client.Get(ctx, kind, ns, name)
}

// ChangeStatus reads a resource, lets change edit it (its status), and
// writes the status back, reading again after a conflict (another
// writer, or the spec changed).
func (c *Client) ChangeStatus(ctx context.Context, kind v3.KindInfo, ns, name string, change func(v3.Object)) error {
	var err error
	for range 5 {
		var obj v3.Object
		if obj, err = c.Client.Get(ctx, kind, ns, name); err != nil {
			return err
		}
		change(obj)
		if _, err = c.Client.UpdateStatus(ctx, obj); !IsConflict(err) {
			return err
		}
	}
	return err
}

// List reads every resource of a kind, in one namespace or (ns == "") in all.
func (c *Client) List(ctx context.Context, kind v3.KindInfo, ns string) ([]v3.Object, error) {
	if !kind.Stored {
		return c.listSynthesised(ctx, kind, ns)
	}
	return c.Client.List(ctx, kind, ns)
}

// ListCached is List from the API server's watch cache (see
// crdclient.Client.ListCached).
func (c *Client) ListCached(ctx context.Context, kind v3.KindInfo, ns string) ([]v3.Object, error) {
	if !kind.Stored {
		return c.listSynthesised(ctx, kind, ns)
	}
	return c.Client.ListCached(ctx, kind, ns)
}

// WriteOption modifies a write.
type WriteOption = crdclient.WriteOption

// DryRun makes the API server run every check of a write (schema, CEL,
// admission) without storing anything.
func DryRun() WriteOption { return crdclient.DryRun() }

// ListWatch lists and watches a stored kind, for reflectors and informers.
func (c *Client) ListWatch(kind v3.KindInfo, ns string) cache.ListerWatcher {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := kind.NewList()
			err := c.Request("GET", kind, ns).VersionedParams(&opts, metav1.ParameterCodec).Do(ctx).Into(list)
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.Watch = true
			return c.Request("GET", kind, ns).VersionedParams(&opts, metav1.ParameterCodec).Watch(ctx)
		},
	}
}

func fill(kind v3.KindInfo, obj v3.Object) v3.Object { return crdclient.Fill(kind, obj) }

// IsNotFound reports whether err says the resource does not exist.
func IsNotFound(err error) bool { return crdclient.IsNotFound(err) }

// IsAlreadyExists reports whether err says the resource already exists.
func IsAlreadyExists(err error) bool { return crdclient.IsAlreadyExists(err) }

// IsConflict reports whether err is an optimistic-concurrency conflict.
func IsConflict(err error) bool { return crdclient.IsConflict(err) }

// NewInformer returns a shared informer for a stored kind (ns "" watches
// every namespace). Its store holds typed objects (*v3.Tier, …).
func (c *Client) NewInformer(kind v3.KindInfo, ns string, resync time.Duration) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformer(c.ListWatch(kind, ns), kind.New(), resync,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

// PolicyKinds are the kinds whose objects belong to a tier.
var PolicyKinds = []string{"NetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy", "StagedGlobalNetworkPolicy"}

// PoliciesInTier lists the policies of every kind in a tier (by the
// selectable field spec.tier).
func (c *Client) PoliciesInTier(ctx context.Context, tier string) ([]v3.Object, error) {
	var out []v3.Object
	for _, k := range PolicyKinds {
		kind, _ := v3.KindFor(k)
		list := kind.NewList()
		if err := c.Request("GET", kind, "").Param("fieldSelector", "spec.tier="+tier).Do(ctx).Into(list); err != nil {
			return nil, fmt.Errorf("listing %s in tier %s: %w", kind.Plural, tier, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if o, ok := it.(v3.Object); ok {
				out = append(out, crdclient.Fill(kind, o))
			}
		}
	}
	return out, nil
}
