package manager

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/kubeauth"
)

// policyKinds are the kinds on the policy board, enforced and staged.
var policyKinds = []string{"GlobalNetworkPolicy", "NetworkPolicy", "StagedGlobalNetworkPolicy", "StagedNetworkPolicy",
	"StagedKubernetesNetworkPolicy"}

// Board is the policy board: the tiers in order and every policy the
// user may list, each with what the board shows of it. Hidden names the
// kinds the user may not list.
type Board struct {
	Tiers    []BoardTier `json:"tiers"`
	Policies []BoardCard `json:"policies"`
	Hidden   []string    `json:"hidden"`
}

// BoardTier is a tier as a column.
type BoardTier struct {
	Name          string    `json:"name"`
	Order         *float64  `json:"order,omitempty"`
	DefaultAction string    `json:"default_action,omitempty"`
	Object        v3.Object `json:"object"`
}

// BoardCard is a policy as a card.
type BoardCard struct {
	Kind         string   `json:"kind"`
	Namespace    string   `json:"namespace,omitempty"`
	Name         string   `json:"name"`
	Tier         string   `json:"tier"`
	Order        *float64 `json:"order,omitempty"`
	Selector     string   `json:"selector,omitempty"`
	Types        []string `json:"types,omitempty"`
	StagedAction string   `json:"staged_action,omitempty"`
	Ingress      int      `json:"ingress_rules"`
	Egress       int      `json:"egress_rules"`
	// Object is the policy as stored, for the editor.
	Object v3.Object `json:"object"`
}

// policyBoard: GET /api/policies, read as the user.
func (s *server) policyBoard(w http.ResponseWriter, r *http.Request, _ kubeauth.User) {
	c, ok := s.userClient(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	kinds := append([]string{"Tier"}, policyKinds...)
	lists := make([][]v3.Object, len(kinds))
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Go(func() {
			kind, _ := v3.KindFor(k)
			lists[i], errs[i] = c.List(ctx, kind, "")
		})
	}
	wg.Wait()
	out := Board{Tiers: []BoardTier{}, Policies: []BoardCard{}, Hidden: []string{}}
	for i, k := range kinds {
		forbidden, err := classify(errs[i])
		if err != nil {
			writeAPIServerError(w, err)
			return
		}
		if forbidden {
			kind, _ := v3.KindFor(k)
			out.Hidden = append(out.Hidden, kind.Plural)
			continue
		}
		for _, o := range lists[i] {
			var m struct {
				Spec struct {
					Tier          string   `json:"tier"`
					Order         *float64 `json:"order"`
					DefaultAction string   `json:"defaultAction"`
					Selector      string   `json:"selector"`
					PodSelector   any      `json:"podSelector"`
					Types         []string `json:"types"`
					PolicyTypes   []string `json:"policyTypes"`
					StagedAction  string   `json:"stagedAction"`
					Ingress       []any    `json:"ingress"`
					Egress        []any    `json:"egress"`
				} `json:"spec"`
			}
			b, _ := json.Marshal(o)
			_ = json.Unmarshal(b, &m)
			if k == "Tier" {
				out.Tiers = append(out.Tiers, BoardTier{Name: o.GetName(), Order: m.Spec.Order, DefaultAction: m.Spec.DefaultAction, Object: o})
				continue
			}
			tier := m.Spec.Tier
			if tier == "" {
				tier = "default"
			}
			types := m.Spec.Types
			if types == nil {
				types = m.Spec.PolicyTypes
			}
			out.Policies = append(out.Policies, BoardCard{Kind: k, Namespace: o.GetNamespace(), Name: o.GetName(), Tier: tier,
				Order: m.Spec.Order, Selector: m.Spec.Selector, Types: types, StagedAction: m.Spec.StagedAction,
				Ingress: len(m.Spec.Ingress), Egress: len(m.Spec.Egress), Object: o})
		}
	}
	writeJSON(w, out)
}
