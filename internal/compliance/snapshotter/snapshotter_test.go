package snapshotter

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/calicong/calico/internal/compliance/snapshot"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/linseedtest"
	"github.com/calicong/calico/internal/poll"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// TestSnapshots: the first round writes every kind; a second writes
// nothing; a changed namespace label writes the namespaces again, and a
// new snapshotter (a restart) does not write what Linseed already has.
func TestSnapshots(t *testing.T) {
	ctx := context.Background()
	ls := linseedtest.New(t)
	dyn, err := dynamic.NewForConfig(testLab.REST)
	if err != nil {
		t.Fatal(err)
	}
	kube := testLab.Client.Kube
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "snap-test", Labels: map[string]string{"env": "dev"}}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer kube.CoreV1().Namespaces().Delete(context.Background(), "snap-test", metav1.DeleteOptions{})
	// A namespace's default ServiceAccount comes a moment after it: a
	// change of its own. Every namespace's (the cluster's own too, on a
	// control plane just started) is there before the first round.
	poll.Until(t, 30*time.Second, "every namespace's default ServiceAccount", func() bool {
		nss, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, n := range nss.Items {
			if _, err := kube.CoreV1().ServiceAccounts(n.Name).Get(ctx, "default", metav1.GetOptions{}); err != nil {
				return false
			}
		}
		return true
	})
	// And the controller manager's controllers, each starting with a
	// ServiceAccount of its own, have all started: the accounts stay the
	// same for 2 s.
	var accounts string
	var since time.Time
	poll.Until(t, 60*time.Second, "the cluster's ServiceAccounts to settle", func() bool {
		l, err := kube.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		var names []string
		for _, sa := range l.Items {
			names = append(names, sa.Namespace+"/"+sa.Name)
		}
		slices.Sort(names)
		if now := strings.Join(names, ","); now != accounts {
			accounts, since = now, time.Now()
		}
		return time.Since(since) >= 2*time.Second
	})
	// A Kubernetes NetworkPolicy and no Calico one: two lists of the same
	// kind name, each unchanged in the second round.
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny", Namespace: "snap-test"}}
	if _, err := kube.NetworkingV1().NetworkPolicies("snap-test").Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := &Snapshotter{Dynamic: dyn, Linseed: ls, Log: slog.New(slog.DiscardHandler)}
	res, err := s.Once(ctx)
	if err != nil || res.Written != len(snapshot.Resources) {
		t.Fatalf("first round: %+v %v; want all %d kinds written", res, err, len(snapshot.Resources))
	}
	if res, err := s.Once(ctx); err != nil || res.Written != 0 {
		t.Fatalf("second round: %+v %v; want nothing written", res, err)
	}
	ns, _ = kube.CoreV1().Namespaces().Get(ctx, "snap-test", metav1.GetOptions{})
	ns.Labels["env"] = "prod"
	if _, err := kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Once(ctx); err != nil || res.Written != 1 {
		t.Fatalf("after a label change: %+v %v; want the namespaces written", res, err)
	}
	restarted := &Snapshotter{Dynamic: dyn, Linseed: ls, Log: slog.New(slog.DiscardHandler)}
	if res, err := restarted.Once(ctx); err != nil || res.Written != 0 {
		t.Fatalf("after a restart: %+v %v; want nothing written", res, err)
	}
	// The newest namespaces snapshot holds the new label, decoded.
	var page api.List
	if err := ls.Post(ctx, ListPath, api.Params{Selector: `kind = "NamespaceList"`, MaxPageSize: 1}, &page); err != nil || len(page.Items) != 1 {
		t.Fatalf("reading the snapshot: %v", err)
	}
	var d snapshot.Doc
	if err := json.Unmarshal(page.Items[0], &d); err != nil {
		t.Fatal(err)
	}
	objs, err := d.Objects()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range objs {
		if n := o.(*corev1.Namespace); n.Name == "snap-test" {
			found = n.Labels["env"] == "prod"
		}
	}
	if !found {
		t.Errorf("the newest snapshot lacks snap-test with env=prod (%d namespaces)", len(objs))
	}
}
