package datastore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/buildinfo"
)

// EnsureInitialized creates what every Calico cluster has: the built-in
// tiers and the "default" ClusterInformation marked ready. It only creates
// what is missing and never overwrites a user's changes, so every component
// may call it at start-up.
func (c *Client) EnsureInitialized(ctx context.Context) error {
	tierKind, _ := v3.KindFor("Tier")
	for _, bt := range v3.BuiltinTiers() {
		order := bt.Order
		t := &v3.Tier{
			ObjectMeta: metav1.ObjectMeta{Name: bt.Name},
			Spec:       v3.TierSpec{Order: &order, DefaultAction: bt.DefaultAction},
		}
		fill(tierKind, t)
		// Read first: a create is admitted (calico-apiserver's webhooks,
		// failure policy Fail) even when the tier exists, and on a cold
		// start of the cluster those webhooks may not be reachable yet.
		if _, err := c.Get(ctx, tierKind, "", bt.Name); err == nil {
			continue
		} else if !IsNotFound(err) {
			return fmt.Errorf("read built-in tier %q: %w", bt.Name, err)
		}
		if _, err := c.Create(ctx, t); err != nil && !IsAlreadyExists(err) {
			return fmt.Errorf("create built-in tier %q: %w", bt.Name, err)
		}
	}

	ciKind, _ := v3.KindFor("ClusterInformation")
	existing, err := c.Get(ctx, ciKind, "", v3.DefaultConfigName)
	switch {
	case IsNotFound(err):
		guid := make([]byte, 16)
		if _, err := rand.Read(guid); err != nil {
			return err
		}
		ready := true
		ci := &v3.ClusterInformation{
			ObjectMeta: metav1.ObjectMeta{Name: v3.DefaultConfigName},
			Spec: v3.ClusterInformationSpec{
				ClusterGUID:    hex.EncodeToString(guid),
				ClusterType:    "k8s,kdd",
				CalicoVersion:  buildinfo.Version,
				DatastoreReady: &ready,
				Variant:        buildinfo.Product,
			},
		}
		fill(ciKind, ci)
		if _, err := c.Create(ctx, ci); err != nil && !IsAlreadyExists(err) {
			return fmt.Errorf("create ClusterInformation: %w", err)
		}
	case err != nil:
		return fmt.Errorf("read ClusterInformation: %w", err)
	default:
		ci := existing.(*v3.ClusterInformation)
		if ci.Spec.DatastoreReady == nil {
			ready := true
			ci.Spec.DatastoreReady = &ready
			if _, err := c.Update(ctx, ci); err != nil {
				return fmt.Errorf("mark datastore ready: %w", err)
			}
		}
	}
	return nil
}
