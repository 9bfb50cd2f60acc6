package datastore_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/poll"
)

func TestClientCRUDAndInformer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := testLab.Client
	kind := mustKind("NetworkSet")

	inf := c.NewInformer(kind, "default", 0)
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}

	ns := &v3.NetworkSet{ObjectMeta: metav1.ObjectMeta{Name: "crud", Namespace: "default"}, Spec: v3.NetworkSetSpec{Nets: []string{"10.20.0.0/16"}}}
	ns.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
	created, err := c.Create(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	if created.GetObjectKind().GroupVersionKind().Kind != "NetworkSet" || created.GetResourceVersion() == "" {
		t.Errorf("created object lacks kind or resourceVersion: %+v", created)
	}
	if _, err := c.Create(ctx, ns); !datastore.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want already exists", err)
	}
	poll.Until(t, 10*time.Second, "the informer to see the set", func() bool {
		_, ok, _ := inf.GetStore().GetByKey("default/crud")
		return ok
	})

	// A stale write is refused (compare-and-swap on resourceVersion).
	upd := created.DeepCopyObject().(*v3.NetworkSet)
	upd.Spec.Nets = append(upd.Spec.Nets, "10.21.0.0/16")
	if _, err := c.Update(ctx, upd); err != nil {
		t.Fatal(err)
	}
	stale := created.DeepCopyObject().(*v3.NetworkSet)
	stale.Spec.Nets = []string{"10.99.0.0/16"}
	if _, err := c.Update(ctx, stale); !datastore.IsConflict(err) {
		t.Errorf("stale update: %v, want a conflict", err)
	}

	// A dry-run delete deletes nothing.
	if err := c.Delete(ctx, kind, "default", "crud", nil, datastore.DryRun()); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, kind, "default", "crud")
	if err != nil {
		t.Fatalf("dry-run delete removed the object: %v", err)
	}
	if n := len(got.(*v3.NetworkSet).Spec.Nets); n != 2 {
		t.Errorf("nets %d, want 2", n)
	}
	list, err := c.List(ctx, kind, "")
	if err != nil || len(list) != 1 {
		t.Errorf("list: %d items, %v", len(list), err)
	}
	if err := c.Delete(ctx, kind, "default", "crud", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, kind, "default", "crud"); !datastore.IsNotFound(err) {
		t.Errorf("get after delete: %v", err)
	}
	poll.Until(t, 10*time.Second, "the informer to see the deletion", func() bool {
		_, ok, _ := inf.GetStore().GetByKey("default/crud")
		return !ok
	})
}

func TestEnsureInitializedKeepsUserChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx := context.Background()
	c := testLab.Client
	ci := mustKind("ClusterInformation")
	before, err := c.Get(ctx, ci, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureInitialized(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := c.Get(ctx, ci, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	if before.(*v3.ClusterInformation).Spec.ClusterGUID != after.(*v3.ClusterInformation).Spec.ClusterGUID ||
		before.GetResourceVersion() != after.GetResourceVersion() {
		t.Error("EnsureInitialized rewrote an existing ClusterInformation")
	}
	if r := after.(*v3.ClusterInformation).Spec.DatastoreReady; r == nil || !*r {
		t.Error("datastoreReady not true")
	}
}
