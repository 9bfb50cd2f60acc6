package manager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/proto"
	"github.com/calicong/calico/internal/query"
)

// UserClients makes API clients that act with a user's own token, so the
// API server's RBAC and audit log see the user.
type UserClients func(token string) (*datastore.Client, error)

// EndpointInfo is one workload or host endpoint as the console lists it.
type EndpointInfo struct {
	Kind      string            `json:"kind"` // WorkloadEndpoint or HostEndpoint
	Namespace string            `json:"namespace,omitempty"`
	Name      string            `json:"name"`
	Pod       string            `json:"pod,omitempty"`
	Node      string            `json:"node"`
	Interface string            `json:"interface,omitempty"`
	Addresses []string          `json:"addresses"`
	Labels    map[string]string `json:"labels"`
	// Policies apply in this order: each tier's, in the tier's order.
	Policies []AppliedPolicy `json:"policies"`
}

// AppliedPolicy is one policy that applies to an endpoint.
type AppliedPolicy struct {
	Tier      string `json:"tier"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Ingress   bool   `json:"ingress"`
	Egress    bool   `json:"egress"`
}

// EndpointList is the endpoints page's answer; Hidden names the kinds
// the user may not list, whose objects are absent (endpoints) or not
// taken into account (policies).
type EndpointList struct {
	Endpoints []EndpointInfo `json:"endpoints"`
	Hidden    []string       `json:"hidden"`
	// PoliciesKnown is false when the user may not list some kind of
	// policy (or tier): then no endpoint's policies can be told.
	PoliciesKnown bool `json:"policies_known"`
}

// listed is what one list as the user gave.
type listed struct {
	what      string
	policy    bool // a tier's or a policy's kind
	objs      []any
	forbidden bool
	err       error
}

// endpoints lists workload and host endpoints, read as the user, with the
// policies that apply to each as the policy engine computes them.
func (s *server) endpoints(w http.ResponseWriter, r *http.Request, u kubeauth.User) {
	c, ok := s.userClient(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	ns := r.URL.Query().Get("namespace")
	if ns != "" && !namePattern.MatchString(ns) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("namespace %q: not a namespace name", ns))
		return
	}
	results := listAsUser(ctx, c, ns)
	var objs []any
	out := EndpointList{Endpoints: []EndpointInfo{}, Hidden: []string{}, PoliciesKnown: true}
	for _, l := range results {
		switch {
		case l.forbidden:
			out.Hidden = append(out.Hidden, l.what)
			out.PoliciesKnown = out.PoliciesKnown && !l.policy
		case l.err != nil:
			writeError(w, http.StatusBadGateway, fmt.Sprintf("listing %s as %s: %v", l.what, u.Name, l.err))
			return
		}
		objs = append(objs, l.objs...)
	}
	if slices.Contains(out.Hidden, "pods") && slices.Contains(out.Hidden, "hostendpoints") {
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s may not list pods%s or host endpoints", u.Name, inNamespace(ns)))
		return
	}
	snap, err := query.FromObjects(objs)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	st, err := query.FromSnapshot(snap, s.log)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	for _, e := range st.Graph.Endpoints() {
		if ns != "" && e.Key.Namespace != ns {
			continue
		}
		if _, assigned := snap.Assigned[e.Key.Namespace+"/"+e.Pod]; assigned {
			continue // a pod without an address is not wired yet
		}
		info := EndpointInfo{Kind: e.Key.Kind, Namespace: e.Key.Namespace, Name: e.Key.Name, Pod: e.Pod, Node: e.Node,
			Interface: e.Interface, Labels: e.Labels, Addresses: []string{}, Policies: []AppliedPolicy{}}
		if info.Labels == nil {
			info.Labels = map[string]string{}
		}
		for _, n := range e.Nets {
			info.Addresses = append(info.Addresses, n.Addr().String())
		}
		info.Policies = applied(e.Tiers)
		out.Endpoints = append(out.Endpoints, info)
	}
	writeJSON(w, out)
}

func inNamespace(ns string) string {
	if ns == "" {
		return ""
	}
	return " in namespace " + ns
}

// applied flattens tiers into the policies in evaluation order, each once.
func applied(tiers []proto.TierInfo) []AppliedPolicy {
	out := []AppliedPolicy{}
	index := map[proto.PolicyID]int{}
	add := func(tier string, id proto.PolicyID, ingress bool) {
		i, ok := index[id]
		if !ok {
			i = len(out)
			index[id] = i
			out = append(out, AppliedPolicy{Tier: tier, Kind: id.Kind, Namespace: id.Namespace, Name: id.Name})
		}
		if ingress {
			out[i].Ingress = true
		} else {
			out[i].Egress = true
		}
	}
	for _, t := range tiers {
		for _, id := range t.IngressPolicies {
			add(t.Name, id, true)
		}
		for _, id := range t.EgressPolicies {
			add(t.Name, id, false)
		}
	}
	return out
}

// listAsUser lists, with the user's client, what the policy engine needs
// to place endpoints and policies. A list the user may not make is marked
// forbidden rather than failing the whole answer.
func listAsUser(ctx context.Context, c *datastore.Client, ns string) []listed {
	kinds := []string{"Tier", "GlobalNetworkPolicy", "NetworkPolicy", "StagedGlobalNetworkPolicy", "StagedNetworkPolicy",
		"StagedKubernetesNetworkPolicy", "HostEndpoint", "NetworkSet", "GlobalNetworkSet"}
	results := make([]listed, len(kinds)+4)
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Go(func() {
			kind, _ := v3.KindFor(k)
			// Network sets matter to rules, not to which policies apply.
			l := listed{what: kind.Plural, policy: kind.Kind != "HostEndpoint" && !strings.HasSuffix(kind.Kind, "NetworkSet")}
			objs, err := c.List(ctx, kind, "")
			for _, o := range objs {
				if kind.Kind == "Tier" || !kind.Namespaced || ns == "" || o.GetNamespace() == ns {
					l.objs = append(l.objs, o)
				}
			}
			l.forbidden, l.err = classify(err)
			results[i] = l
		})
	}
	k := len(kinds)
	wg.Go(func() {
		l := listed{what: "pods"}
		list, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				l.objs = append(l.objs, &list.Items[i])
			}
		}
		l.forbidden, l.err = classify(err)
		results[k] = l
	})
	wg.Go(func() {
		l := listed{what: "namespaces"}
		list, err := c.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				l.objs = append(l.objs, &list.Items[i])
			}
		}
		l.forbidden, l.err = classify(err)
		results[k+1] = l
	})
	wg.Go(func() {
		l := listed{what: "serviceaccounts"}
		list, err := c.Kube.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				l.objs = append(l.objs, &list.Items[i])
			}
		}
		l.forbidden, l.err = classify(err)
		results[k+2] = l
	})
	wg.Go(func() {
		l := listed{what: "networkpolicies.networking.k8s.io", policy: true}
		list, err := c.Kube.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				l.objs = append(l.objs, &list.Items[i])
			}
		}
		l.forbidden, l.err = classify(err)
		results[k+3] = l
	})
	wg.Wait()
	return results
}

// classify splits a list's error: forbidden (the user may not) or a
// failure.
func classify(err error) (forbidden bool, failure error) {
	if err == nil {
		return false, nil
	}
	if apierrors.IsForbidden(err) {
		return true, nil
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) && se.Status().Code == http.StatusNotFound {
		return false, nil // a kind not installed: nothing of it
	}
	return false, err
}
