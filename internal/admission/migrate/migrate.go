// Package migrate brings objects stored by earlier versions up to what
// today's writers store. calico-apiserver runs it at start-up, in the
// background (its own writes pass through its webhooks, so it must serve
// first).
//
// TierLabels gives every NetworkPolicy, GlobalNetworkPolicy and staged
// form of them the label projectcalico.org/tier naming its tier, as
// Calico's writers store it (v3.DefaultForWrite). Policies written before
// the label was set have none, which Calico reads as tier default; a
// policy round-tripped through an older calicoctl from Calico's own
// output may carry a wrong one.
//
// It is idempotent and safe to run in several replicas at once: each
// policy is patched only when its label is missing or wrong, with the
// resourceVersion it was listed at as a precondition; a conflict (another
// replica, or any writer, wrote it first) leaves it to a new pass, which
// lists again and finds the work done. Whatever passes admission carries
// a label that names its tier, so no write can put a wrong one back.
package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
)

// Result counts what a TierLabels pass found.
type Result struct {
	Labelled int // patched: the label was missing or wrong
	Current  int // already right
	Refused  int // the API server refused the patch as invalid (logged)
	Changed  int // written by someone else since the list: left for the next pass
}

// TierLabels labels every policy of every tiered kind with its tier. An
// error (a list or a patch that failed for a reason other than the
// policy's own invalidity, or a policy that changed while the pass ran)
// means the pass should be run again; policies the API server refuses as
// invalid are logged and counted, and stay as they are.
func TierLabels(ctx context.Context, c *datastore.Client, log *slog.Logger) (Result, error) {
	var res Result
	for _, name := range datastore.PolicyKinds {
		kind, _ := v3.KindFor(name)
		objs, err := c.List(ctx, kind, "")
		if err != nil {
			return res, fmt.Errorf("listing %s: %w", kind.Plural, err)
		}
		for _, o := range objs {
			tier, _ := v3.PolicyTier(o)
			if v, ok := o.GetLabels()[v3.LabelTier]; ok && v == tier {
				res.Current++
				continue
			}
			// The resourceVersion makes the patch conditional: a policy
			// written since the list (which, through admission, set its
			// label) is read again by the next pass.
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
				"resourceVersion": o.GetResourceVersion(),
				"labels":          map[string]string{v3.LabelTier: tier},
			}})
			_, err := c.Patch(ctx, kind, o.GetNamespace(), o.GetName(), types.MergePatchType, patch)
			switch {
			case err == nil:
				res.Labelled++
			case apierrors.IsNotFound(err):
			case apierrors.IsConflict(err):
				res.Changed++
			case apierrors.IsInvalid(err):
				res.Refused++
				log.Warn("cannot set the tier label of a stored policy the API server now refuses as invalid; fix the policy",
					"kind", kind.Kind, "namespace", o.GetNamespace(), "name", o.GetName(), "err", err)
			default:
				return res, fmt.Errorf("labelling %s %s: %w", kind.Kind, key(o), err)
			}
		}
	}
	if res.Changed > 0 {
		return res, fmt.Errorf("%d policies changed while being labelled", res.Changed)
	}
	return res, nil
}

func key(o v3.Object) string {
	if o.GetNamespace() != "" {
		return o.GetNamespace() + "/" + o.GetName()
	}
	return o.GetName()
}

// Run runs TierLabels until a pass completes, waiting between attempts
// from first up to maxWait, doubling: at start-up the CRDs, the RBAC or the
// webhooks its writes pass through may not be in place yet. It returns
// the completed pass's result, or ctx's error.
func Run(ctx context.Context, c *datastore.Client, log *slog.Logger, first, maxWait time.Duration) (Result, error) {
	wait := first
	for {
		res, err := TierLabels(ctx, c, log)
		if err == nil {
			log.Info("policies carry their tier label", "labelled", res.Labelled, "already", res.Current, "refused", res.Refused)
			return res, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return res, errors.Join(ctxErr, err)
		}
		log.Info("tier label migration not done yet; retrying", "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}
