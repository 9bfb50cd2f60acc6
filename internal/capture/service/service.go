// Package service is the packet capture API (calico-packetcapture):
//
//	GET    /download/<namespace>/<name>/files.zip  every node's files of a capture, as one zip
//	DELETE /files/<namespace>/<name>              every node's files of a finished capture
//
// A caller shows a Bearer token (checked with a TokenReview) or a client
// certificate signed by the cluster's client CA (as the kubelet accepts
// them), and needs `get` (download) or `delete` on the subresource
// packetcaptures/files of the capture in its namespace (a
// SubjectAccessReview): 401 without valid credentials, 403 without the
// grant. The nodes that hold files are those in the capture's
// status.files; each is reached through its file service
// (internal/capture/files). The zip is streamed: a file at a time, from
// the node to the caller, never held whole.
package service

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/capture/files"
	"github.com/calicong/calico/internal/httpjson"
	"github.com/calicong/calico/internal/kubeauth"
)

// Checker authenticates tokens and authorises actions (kubeauth.Checker).
type Checker interface {
	Authenticate(ctx context.Context, token string) (kubeauth.User, error)
	Authorize(ctx context.Context, u kubeauth.User, a kubeauth.Access) (bool, error)
}

// ErrNotFound is a capture or node that does not exist.
var ErrNotFound = errors.New("not found")

// Config configures the handler.
type Config struct {
	Checker Checker
	// Capture reads a PacketCapture (ErrNotFound if there is none).
	Capture func(ctx context.Context, namespace, name string) (*v3.PacketCapture, error)
	// NodeURL is the base URL of a node's file service.
	NodeURL func(ctx context.Context, node string) (string, error)
	Files   *files.Client
	Log     *slog.Logger
}

// Stats are the handler's counters, for metrics.
type Stats struct {
	Downloads, DownloadedBytes, Deletes, Refused atomic.Int64
}

// Handler serves the API.
type Handler struct {
	cfg   Config
	mux   *http.ServeMux
	Stats Stats
}

// New makes the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Checker == nil || cfg.Capture == nil || cfg.NodeURL == nil || cfg.Files == nil {
		return nil, errors.New("packet capture API: a checker, a capture reader, a node resolver and a files client are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	h.mux.HandleFunc("GET /download/{namespace}/{name}/files.zip", h.download)
	h.mux.HandleFunc("DELETE /files/{namespace}/{name}", h.delete)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no route %s %s: the API has GET /download/<namespace>/<name>/files.zip and DELETE /files/<namespace>/<name>", r.Method, r.URL.Path))
	})
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// user authenticates the caller: a Bearer token, else a verified client
// certificate (common name the user, organisations its groups).
func (h *Handler) user(w http.ResponseWriter, r *http.Request) (kubeauth.User, bool) {
	if r.Header.Get("Authorization") != "" {
		token := kubeauth.BearerToken(r)
		if token == "" {
			h.refuse(w, http.StatusUnauthorized, "the Authorization header is not \"Bearer <token>\"")
			return kubeauth.User{}, false
		}
		u, err := h.cfg.Checker.Authenticate(r.Context(), token)
		if errors.Is(err, kubeauth.ErrInvalidToken) {
			h.refuse(w, http.StatusUnauthorized, "the token is not valid (expired, revoked, or not this cluster's)")
			return kubeauth.User{}, false
		}
		if err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, "cannot check the token with the API server: "+err.Error())
			return kubeauth.User{}, false
		}
		return u, true
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		c := r.TLS.VerifiedChains[0][0]
		if c.Subject.CommonName != "" {
			return kubeauth.User{Name: c.Subject.CommonName, Groups: append(slices.Clone(c.Subject.Organization), "system:authenticated")}, true
		}
	}
	h.refuse(w, http.StatusUnauthorized, "no credentials: send \"Authorization: Bearer <token>\" (or a client certificate of the cluster's client CA)")
	return kubeauth.User{}, false
}

// allowed authorises verb on the capture's files.
func (h *Handler) allowed(w http.ResponseWriter, r *http.Request, u kubeauth.User, verb, ns, name string) bool {
	ok, err := h.cfg.Checker.Authorize(r.Context(), u, kubeauth.Access{Group: v3.GroupName, Resource: "packetcaptures", Subresource: "files",
		Verb: verb, Namespace: ns, Name: name})
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "cannot check access with the API server: "+err.Error())
		return false
	}
	if !ok {
		h.refuse(w, http.StatusForbidden, fmt.Sprintf("user %q cannot %s packetcaptures/files %q in the namespace %q", u.Name, verb, name, ns))
		return false
	}
	return true
}

func (h *Handler) refuse(w http.ResponseWriter, code int, msg string) {
	h.Stats.Refused.Add(1)
	httpjson.Error(w, code, msg)
}

// nodeFiles is one node's files of a capture.
type nodeFiles struct {
	node, url string
	files     []files.File
}

// capture authenticates, authorises and reads the capture.
func (h *Handler) capture(w http.ResponseWriter, r *http.Request, verb string) (*v3.PacketCapture, bool) {
	u, ok := h.user(w, r)
	if !ok {
		return nil, false
	}
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	if !h.allowed(w, r, u, verb, ns, name) {
		return nil, false
	}
	pc, err := h.cfg.Capture(r.Context(), ns, name)
	if errors.Is(err, ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no PacketCapture %q in the namespace %q", name, ns))
		return nil, false
	}
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "cannot read the PacketCapture: "+err.Error())
		return nil, false
	}
	return pc, true
}

// nodes lists the capture's files on every node its status names.
func (h *Handler) nodes(ctx context.Context, pc *v3.PacketCapture) ([]nodeFiles, error) {
	var out []nodeFiles
	seen := map[string]bool{}
	for _, f := range pc.Status.Files {
		if f.Node == "" || seen[f.Node] {
			continue
		}
		seen[f.Node] = true
		u, err := h.cfg.NodeURL(ctx, f.Node)
		if errors.Is(err, ErrNotFound) {
			h.cfg.Log.Warn("a capture's node is gone; its files with it", "capture", pc.Namespace+"/"+pc.Name, "node", f.Node)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", f.Node, err)
		}
		list, err := h.cfg.Files.List(ctx, u, pc.Namespace, pc.Name)
		if err != nil {
			return nil, fmt.Errorf("node %s's files: %w", f.Node, err)
		}
		out = append(out, nodeFiles{node: f.Node, url: u, files: list})
	}
	slices.SortFunc(out, func(a, b nodeFiles) int { return strings.Compare(a.node, b.node) })
	return out, nil
}

func (h *Handler) download(w http.ResponseWriter, r *http.Request) {
	pc, ok := h.capture(w, r, "get")
	if !ok {
		return
	}
	nodes, err := h.nodes(r.Context(), pc)
	if err != nil {
		httpjson.Error(w, http.StatusBadGateway, err.Error())
		return
	}
	n := 0
	for _, nf := range nodes {
		n += len(nf.files)
	}
	if n == 0 {
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("PacketCapture %s/%s has no files (%s)", pc.Namespace, pc.Name, describeStates(pc)))
		return
	}
	h.Stats.Downloads.Add(1)
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", pc.Name+".zip"))
	zw := zip.NewWriter(w)
	taken := map[string]bool{}
	for _, nf := range nodes {
		for _, f := range nf.files {
			body, _, err := h.cfg.Files.Open(r.Context(), nf.url, pc.Namespace, pc.Name, f.Name)
			if errors.Is(err, files.ErrNotFound) {
				continue // rotated away since it was listed
			}
			if err != nil {
				h.abort(pc, nf.node, f.Name, err)
			}
			// Files are named by pod, and a pod lives on one node, so
			// names do not collide; if they ever do, the node tells them
			// apart.
			entry := f.Name
			if taken[entry] {
				entry = nf.node + "_" + f.Name
			}
			taken[entry] = true
			zf, err := zw.CreateHeader(&zip.FileHeader{Name: entry, Method: zip.Store, Modified: f.ModTime,
				Comment: "node " + nf.node})
			if err != nil {
				body.Close()
				h.abort(pc, nf.node, f.Name, err)
			}
			c, err := io.Copy(zf, body)
			body.Close()
			h.Stats.DownloadedBytes.Add(c)
			if err != nil {
				h.abort(pc, nf.node, f.Name, err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		h.abort(pc, "", "", err)
	}
}

// abort ends a download that failed after its first bytes: the
// connection is cut, so the caller sees a failed transfer and never a
// zip that silently lacks files.
func (h *Handler) abort(pc *v3.PacketCapture, node, file string, err error) {
	h.cfg.Log.Warn("download failed", "capture", pc.Namespace+"/"+pc.Name, "node", node, "file", file, "err", err)
	panic(http.ErrAbortHandler)
}

// DeleteResult is a delete's answer.
type DeleteResult struct {
	// Files deleted per node.
	Nodes map[string]int `json:"nodes"`
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	pc, ok := h.capture(w, r, "delete")
	if !ok {
		return
	}
	// Nothing is deleted while any node still writes: the files would be
	// half gone and come back.
	for _, f := range pc.Status.Files {
		if f.State == v3.PacketCaptureStateCapturing || f.State == v3.PacketCaptureStateWaitingForTraffic {
			httpjson.Error(w, http.StatusConflict, fmt.Sprintf("PacketCapture %s/%s is still capturing on node %s; move its endTime to the past to stop it, then delete its files",
				pc.Namespace, pc.Name, f.Node))
			return
		}
	}
	out := DeleteResult{Nodes: map[string]int{}}
	for _, f := range pc.Status.Files {
		if f.Node == "" {
			continue
		}
		u, err := h.cfg.NodeURL(r.Context(), f.Node)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err == nil {
			out.Nodes[f.Node], err = h.cfg.Files.Delete(r.Context(), u, pc.Namespace, pc.Name)
		}
		var se *files.StatusError
		if errors.As(err, &se) && se.Code == http.StatusConflict {
			httpjson.Error(w, http.StatusConflict, fmt.Sprintf("node %s: %s", f.Node, se.Message))
			return
		}
		if err != nil {
			httpjson.Error(w, http.StatusBadGateway, fmt.Sprintf("node %s: %v", f.Node, err))
			return
		}
	}
	h.Stats.Deletes.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// describeStates says where a capture is, for a message: "state
// Scheduled", or each node's.
func describeStates(pc *v3.PacketCapture) string {
	if len(pc.Status.Files) == 0 {
		return "no node has reported it yet"
	}
	var parts []string
	for _, f := range pc.Status.Files {
		parts = append(parts, fmt.Sprintf("%s: %s", f.Node, f.State))
	}
	return strings.Join(parts, ", ")
}
