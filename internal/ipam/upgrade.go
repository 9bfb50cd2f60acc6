package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/labels"

	v3 "github.com/calicong/calico/api/v3"
)

// UpgradeHost brings the block affinities of node (an assignment's Node:
// a node name, or VirtualPrefix and a virtual owner's name; "" for every
// owner's) that were stored before this version, or by an older Calico,
// into Calico's current form, so that Calico's IPAM and BGP syncer, which
// list a host's affinities only by label, find them:
//
//   - Calico's labels (LabelHostnameHash, LabelAffinityType,
//     LabelIPVersion), and spec.type "host" where it is empty;
//   - Calico's name (AffinityName; an older version named virtual owners'
//     affinities by a hash): a copy is created under that name, then the
//     old one is deleted.
//
// As Calico's UpgradeHost (libcalico-go/lib/ipam/ipam.go
// attemptUpgradeHost), it looks only at affinities without
// LabelAffinityType (a label selector where the store has one), so it is
// cheap once done; it is idempotent, and safe to run while others
// allocate (every write is a compare-and-swap, and a conflict is read
// again). calico-node runs it for its node at start-up, as Calico's does,
// and the IPAM garbage collector for every owner when it starts. It
// returns the errors of the affinities it could not bring up to date
// (the others are done).
func (m *IPAM) UpgradeHost(ctx context.Context, node string) error {
	sel := "!" + LabelAffinityType
	var objs []v3.Object
	var err error
	if sl, ok := m.store.(SelectLister); ok {
		objs, err = sl.ListSelected(ctx, KindAffinity, sel)
	} else {
		objs, err = m.store.List(ctx, KindAffinity)
		parsed, perr := labels.Parse(sel)
		if perr != nil {
			return perr
		}
		objs = filterObjects(objs, func(o v3.Object) bool { return parsed.Matches(labels.Set(o.GetLabels())) })
	}
	if err != nil {
		return fmt.Errorf("listing block affinities to upgrade: %w", err)
	}
	var errs []error
	for _, o := range objs {
		a := o.(*v3.BlockAffinity)
		if node != "" && !ownedBy(a, node) {
			continue
		}
		if err := m.upgradeAffinity(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("block affinity %s: %w", a.Name, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

func filterObjects(objs []v3.Object, keep func(v3.Object) bool) []v3.Object {
	var out []v3.Object
	for _, o := range objs {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out
}

// upgradeAffinity labels one affinity, or moves it to Calico's name.
func (m *IPAM) upgradeAffinity(ctx context.Context, a *v3.BlockAffinity) error {
	for range maxRetries {
		a = a.DeepCopy()
		cidr, err := netip.ParsePrefix(a.Spec.CIDR)
		if err != nil {
			return fmt.Errorf("cidr %q: %w", a.Spec.CIDR, err)
		}
		changed := ensureAffinityLabels(a)
		node := a.Spec.Node
		if a.Spec.Type == "virtual" {
			node = VirtualPrefix + node
		}
		known := a.Spec.Type == "host" || a.Spec.Type == "virtual"
		if want := AffinityName(node, cidr); known && a.Name != want {
			return m.renameAffinity(ctx, a, want)
		}
		if !changed {
			return nil
		}
		_, err = m.store.Update(ctx, a)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil
		case !errors.Is(err, ErrConflict):
			return err
		}
		o, err := m.store.Get(ctx, KindAffinity, a.Name)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		a = o.(*v3.BlockAffinity)
	}
	return ErrConflict
}

// renameAffinity stores a (labelled) under Calico's name and deletes the
// old object, if it has not changed since it was read. If the name is
// taken already (the owner has claimed the block again under it), the old
// object is only deleted.
func (m *IPAM) renameAffinity(ctx context.Context, a *v3.BlockAffinity, name string) error {
	n := KindAffinity.New().(*v3.BlockAffinity)
	n.Name = name
	n.Labels = a.Labels
	n.Annotations = a.Annotations
	n.Spec = a.Spec
	if _, err := m.store.Create(ctx, n); err != nil && !errors.Is(err, ErrExists) {
		return fmt.Errorf("creating it as %s: %w", name, err)
	}
	err := m.store.Delete(ctx, KindAffinity, a.Name, a.ResourceVersion)
	if err != nil && !errors.Is(err, ErrNotFound) {
		// Changed since: the next run moves it again (the copy is
		// there already).
		return fmt.Errorf("deleting it after copying it to %s: %w", name, err)
	}
	return nil
}
