// Package admission is calico-apiserver's logic: the admission webhooks
// that give kubectl users what the CRD schema cannot. The mutating hook
// defaults objects exactly as calicoctl does (v3.DefaultForWrite: policies
// also get their projectcalico.org/tier label), so both store the same
// thing; the validating hook runs the shared validator
// (api/v3/validation: ValidateWrite, ValidateUpdate), answers with its
// warnings (validation.Warnings: what is accepted but not fully honoured
// by this dataplane), and applies Calico's tier-scoped RBAC: acting on a
// policy in tier T needs `get` on tiers/T and the verb on the tier's policies
// (`tier.networkpolicies`, `tier.globalnetworkpolicies` or the staged
// kinds, resource name `T.*` or the policy's own name). Built-in tiers,
// and tiers that still have policies, cannot be deleted.
//
// The authorization check and the policy count are interfaces, so this
// package holds no API client.
package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
)

// Access is one authorization question about a user.
type Access struct {
	Verb      string
	Resource  string // e.g. "tiers", "tier.networkpolicies"
	Name      string
	Namespace string
}

// Authorizer answers authorization questions (a SubjectAccessReview).
type Authorizer interface {
	Allowed(ctx context.Context, user authenticationv1.UserInfo, a Access) (bool, error)
}

// Policies counts the policies of every kind in a tier.
type Policies interface {
	InTier(ctx context.Context, tier string) (int, error)
}

// Handler serves the webhooks.
type Handler struct {
	Authz    Authorizer
	Policies Policies
}

// tierResources maps a policy kind to the resource Calico's tier RBAC
// names.
var tierResources = map[string]string{
	"NetworkPolicy":             "tier.networkpolicies",
	"GlobalNetworkPolicy":       "tier.globalnetworkpolicies",
	"StagedNetworkPolicy":       "tier.stagednetworkpolicies",
	"StagedGlobalNetworkPolicy": "tier.stagedglobalnetworkpolicies",
}

// decode turns raw JSON into the v3 object of the given kind.
func decode(kind string, raw []byte) (v3.Object, error) {
	k, ok := v3.KindFor(kind)
	if !ok || !k.Stored {
		return nil, fmt.Errorf("calico-apiserver does not handle kind %q", kind)
	}
	obj := k.New().(v3.Object)
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("decoding the %s: %w", kind, err)
	}
	return obj, nil
}

// Mutate defaults the object and answers with the JSON patch that does
// it.
func (h *Handler) Mutate(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return allow(req)
	}
	obj, err := decode(req.Kind.Kind, req.Object.Raw)
	if err != nil {
		return deny(req, http.StatusBadRequest, err.Error())
	}
	// The stored object an update replaces: a tier label the update leaves
	// as it was follows spec.tier (v3.DefaultForWrite).
	var old runtime.Object
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		if old, err = decode(req.Kind.Kind, req.OldObject.Raw); err != nil {
			return deny(req, http.StatusBadRequest, err.Error())
		}
	}
	// The spec and labels as sent against those calicoctl would write (the
	// Go types' form, defaulted): kubectl then stores the same bytes.
	var sent struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec any `json:"spec"`
	}
	_ = json.Unmarshal(req.Object.Raw, &sent)
	before, _ := json.Marshal(sent.Spec)
	v3.DefaultForWrite(obj, old)
	after := canonical(specOf(obj))
	// "add" replaces the member when it exists.
	var ops []map[string]any
	if string(before) != string(after) {
		ops = append(ops, map[string]any{"op": "add", "path": "/spec", "value": json.RawMessage(after)})
	}
	if labels := obj.GetLabels(); !maps.Equal(labels, sent.Metadata.Labels) {
		ops = append(ops, map[string]any{"op": "add", "path": "/metadata/labels", "value": labels})
	}
	resp := allow(req)
	if len(ops) == 0 {
		return resp
	}
	patch, _ := json.Marshal(ops)
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	return resp
}

// specOf is the object's spec field, which is all defaulting changes.
func specOf(obj runtime.Object) json.RawMessage {
	var m map[string]json.RawMessage
	b, _ := json.Marshal(obj)
	_ = json.Unmarshal(b, &m)
	return m["spec"]
}

// canonical re-encodes JSON with sorted keys, as before is.
func canonical(raw json.RawMessage) []byte {
	var v any
	_ = json.Unmarshal(raw, &v)
	b, _ := json.Marshal(v)
	return b
}

// Validate checks the object and the user's tier permissions.
func (h *Handler) Validate(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	kind := req.Kind.Kind
	var obj, old v3.Object
	var err error
	if len(req.Object.Raw) > 0 {
		if obj, err = decode(kind, req.Object.Raw); err != nil {
			return deny(req, http.StatusBadRequest, err.Error())
		}
	}
	if len(req.OldObject.Raw) > 0 {
		if old, err = decode(kind, req.OldObject.Raw); err != nil {
			return deny(req, http.StatusBadRequest, err.Error())
		}
	}
	var warnings []string
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
		// What kubectl users send is defaulted first (the mutating hook
		// ran), so this is the object that would be stored.
		var errs field.ErrorList
		if req.Operation == admissionv1.Update && old != nil {
			errs = validation.ValidateUpdate(obj, old)
		} else {
			errs = validation.ValidateWrite(obj)
		}
		if len(errs) > 0 {
			return invalid(req, kind, obj.GetName(), errs)
		}
		// What is accepted but not fully honoured: kubectl prints these
		// as "Warning: ...", calicoctl computes the same ones itself.
		warnings = validation.Warnings(obj)
	case admissionv1.Delete:
		if kind == "Tier" {
			if r := h.tierDeletion(ctx, req); r != nil {
				return r
			}
		}
	}
	if res, ok := tierResources[kind]; ok {
		// An update moving a policy between tiers needs both tiers.
		tiers := map[string]bool{}
		for _, o := range []v3.Object{obj, old} {
			if o != nil {
				tiers[policyTier(o)] = true
			}
		}
		for t := range tiers {
			if r := h.tierAccess(ctx, req, res, t); r != nil {
				return r
			}
		}
	}
	resp := allow(req)
	resp.Warnings = warnings
	return resp
}

func policyTier(o v3.Object) string {
	t, _ := v3.PolicyTier(o)
	return t
}

// verbs maps an admission operation to the RBAC verb.
func verb(op admissionv1.Operation) string {
	switch op {
	case admissionv1.Create:
		return "create"
	case admissionv1.Update:
		return "update"
	case admissionv1.Delete:
		return "delete"
	}
	return strings.ToLower(string(op))
}

// tierAccess applies Calico's tier RBAC: get on the tier, and the verb on
// the tier's policies by wildcard name or by the policy's name.
func (h *Handler) tierAccess(ctx context.Context, req *admissionv1.AdmissionRequest, resource, tier string) *admissionv1.AdmissionResponse {
	user := req.UserInfo
	ok, err := h.Authz.Allowed(ctx, user, Access{Verb: "get", Resource: "tiers", Name: tier})
	if err != nil {
		return deny(req, http.StatusInternalServerError, "checking tier permissions: "+err.Error())
	}
	if !ok {
		return forbidden(req, fmt.Sprintf("User %q cannot get tiers.projectcalico.org %q: acting on policies in a tier needs get on the tier", user.Username, tier))
	}
	v := verb(req.Operation)
	for _, name := range []string{tier + ".*", req.Name} {
		ok, err := h.Authz.Allowed(ctx, user, Access{Verb: v, Resource: resource, Name: name, Namespace: req.Namespace})
		if err != nil {
			return deny(req, http.StatusInternalServerError, "checking tier permissions: "+err.Error())
		}
		if ok {
			return nil
		}
	}
	where := ""
	if req.Namespace != "" {
		where = fmt.Sprintf(" in namespace %q", req.Namespace)
	}
	return forbidden(req, fmt.Sprintf("User %q cannot %s %s.projectcalico.org in tier %q%s: needs %s on %s (resource name %q or %q)",
		user.Username, v, strings.TrimPrefix(resource, "tier."), tier, where, v, resource, tier+".*", req.Name))
}

// tierDeletion refuses to delete built-in tiers and tiers with policies.
func (h *Handler) tierDeletion(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if _, builtin := v3.BuiltinTierFor(req.Name); builtin {
		return forbidden(req, fmt.Sprintf("tier %q is built in and cannot be deleted", req.Name))
	}
	n, err := h.Policies.InTier(ctx, req.Name)
	if err != nil {
		return deny(req, http.StatusInternalServerError, "counting the tier's policies: "+err.Error())
	}
	if n > 0 {
		return forbidden(req, fmt.Sprintf("tier %q still has %d policies: delete or move them first", req.Name, n))
	}
	return nil
}

func allow(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
}

func deny(req *admissionv1.AdmissionRequest, code int32, msg string) *admissionv1.AdmissionResponse {
	reason := metav1.StatusReasonBadRequest
	switch code {
	case http.StatusForbidden:
		reason = metav1.StatusReasonForbidden
	case http.StatusUnprocessableEntity:
		reason = metav1.StatusReasonInvalid
	case http.StatusInternalServerError:
		reason = metav1.StatusReasonInternalError
	}
	return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: false,
		Result: &metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg}}
}

func forbidden(req *admissionv1.AdmissionRequest, msg string) *admissionv1.AdmissionResponse {
	return deny(req, http.StatusForbidden, msg)
}

// invalid lists every field error, as the API server's own validation
// does.
func invalid(req *admissionv1.AdmissionRequest, kind, name string, errs field.ErrorList) *admissionv1.AdmissionResponse {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return deny(req, http.StatusUnprocessableEntity, fmt.Sprintf("%s %q is invalid: %s", kind, name, strings.Join(msgs, "; ")))
}
