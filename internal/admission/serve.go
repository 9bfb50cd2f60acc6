package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
)

// Paths the webhook configurations name.
const (
	PathMutate   = "/mutate"
	PathValidate = "/validate"
)

// maxReview bounds a request body (the API server's own limit on an
// object is 3 MiB; a review carries two).
const maxReview = 8 << 20

// ServeHTTP answers AdmissionReview v1 requests on PathMutate and
// PathValidate.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var hook func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse
	switch r.URL.Path {
	case PathMutate:
		hook = h.Mutate
	case PathValidate:
		hook = h.Validate
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReview+1))
	if err != nil || len(body) > maxReview {
		http.Error(w, fmt.Sprintf("reading the review: too large or cut short (%v)", err), http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("the body is not an AdmissionReview with a request: %v", err), http.StatusBadRequest)
		return
	}
	resp := hook(r.Context(), review.Request)
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
