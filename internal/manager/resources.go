package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/crdclient"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/manifest"
)

// Editable are the projectcalico.org/v3 kinds the console reads and
// writes, always as the user: the API server (and calico-apiserver's
// webhooks) check and refuse exactly as for kubectl or calicoctl.
var Editable = []string{"NetworkSet", "GlobalNetworkSet", "Tier", "GlobalNetworkPolicy", "NetworkPolicy",
	"StagedGlobalNetworkPolicy", "StagedNetworkPolicy", "StagedKubernetesNetworkPolicy",
	"GlobalAlert", "GlobalAlertTemplate", "GlobalThreatFeed", "AlertException", "SecurityEventWebhook",
	"GlobalReport", "GlobalReportType", "PacketCapture"}

// ResourceList is a list of one kind's objects the user may see.
type ResourceList struct {
	Kind  string      `json:"kind"`
	Items []v3.Object `json:"items"`
}

func (s *server) editable(w http.ResponseWriter, r *http.Request) (v3.KindInfo, bool) {
	name := r.PathValue("kind")
	kind, ok := v3.KindFor(name)
	if !ok || !slices.Contains(Editable, kind.Kind) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("the console does not edit %q (it edits %v)", name, Editable))
		return kind, false
	}
	return kind, true
}

// userClient is the cluster's clients with the request's token, writing
// the error response itself when there are none.
func (s *server) userClient(w http.ResponseWriter, r *http.Request) (*datastore.Client, bool) {
	if s.cfg.UserClients == nil {
		writeError(w, http.StatusNotImplemented, "this manager has no API server access configured")
		return nil, false
	}
	c, err := s.cfg.UserClients(kubeauth.BearerToken(r))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return nil, false
	}
	return c, true
}

// writeAPIServerError writes the API server's refusal as it said it, with its code.
func writeAPIServerError(w http.ResponseWriter, err error) {
	var se apierrors.APIStatus
	if errors.As(err, &se) && se.Status().Code >= 400 {
		writeError(w, int(se.Status().Code), se.Status().Message)
		return
	}
	writeError(w, http.StatusBadGateway, "the API server did not answer: "+err.Error())
}

// listResources: GET /api/resources/{kind}[?namespace=]; a kind the user
// may not list is a 403 as the API server said it.
func (s *server) listResources(w http.ResponseWriter, r *http.Request, _ kubeauth.User) {
	kind, ok := s.editable(w, r)
	if !ok {
		return
	}
	c, ok := s.userClient(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	items, err := c.List(ctx, kind, r.URL.Query().Get("namespace"))
	if err != nil {
		writeAPIServerError(w, err)
		return
	}
	if items == nil {
		items = []v3.Object{}
	}
	writeJSON(w, ResourceList{Kind: kind.Kind, Items: items})
}

// putResource: PUT /api/resources/{kind}[?dryRun=true] with the object
// (JSON or YAML): created if it has no resourceVersion, else updated (and
// refused if someone changed it meanwhile). With dryRun the API server
// runs every check and stores nothing: the editor validates as the user
// types.
func (s *server) putResource(w http.ResponseWriter, r *http.Request, _ kubeauth.User) {
	kind, ok := s.editable(w, r)
	if !ok {
		return
	}
	c, ok := s.userClient(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	docs, err := manifest.Parse("the request", body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(docs) != 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("send one %s, not %d documents", kind.Kind, len(docs)))
		return
	}
	got, obj, err := manifest.DecodeCalico(docs[0])
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if got.Kind != kind.Kind {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the object is a %s, sent to %s", got.Kind, kind.Kind))
		return
	}
	var opts []crdclient.WriteOption
	if r.URL.Query().Get("dryRun") == "true" {
		opts = append(opts, crdclient.DryRun())
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	var out v3.Object
	if obj.GetResourceVersion() == "" {
		out, err = c.Create(ctx, obj, opts...)
	} else {
		out, err = c.Update(ctx, obj, opts...)
	}
	if err != nil {
		writeAPIServerError(w, err)
		return
	}
	writeJSON(w, out)
}

// deleteResource: DELETE /api/resources/{kind}/{namespace}/{name} ("-"
// for a cluster-wide kind's namespace).
func (s *server) deleteResource(w http.ResponseWriter, r *http.Request, _ kubeauth.User) {
	kind, ok := s.editable(w, r)
	if !ok {
		return
	}
	c, ok := s.userClient(w, r)
	if !ok {
		return
	}
	ns := r.PathValue("namespace")
	if ns == "-" {
		ns = ""
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	if err := c.Delete(ctx, kind, ns, r.PathValue("name"), nil); err != nil {
		writeAPIServerError(w, err)
		return
	}
	writeJSON(w, map[string]string{"deleted": r.PathValue("name")})
}
