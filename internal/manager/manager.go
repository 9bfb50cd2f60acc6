// Package manager is calico-manager's HTTP handler, the console's single
// front door: the console's assets, its UI API under /api/, and the
// routes to the services behind it (/prometheus/ to the Prometheus API
// service). Every API call is made as the user: the Bearer token is
// checked with a TokenReview, log reads are authorised with a
// SubjectAccessReview on lma.tigera.io (Calico Enterprise's resource
// names), and what goes to the Prometheus API service carries the
// user's own token, so its RBAC decides.
package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"time"

	compliance "github.com/calicong/calico/internal/compliance/server"
	"github.com/calicong/calico/internal/httpjson"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/linseed/api"
)

// LMAGroup is the API group of people's log access (Calico
// Enterprise's): the resource is the cluster's name, the resourceName the
// log type, the verb get.
const LMAGroup = "lma.tigera.io"

// LogTypes are the log types whose access is checked, by their
// resourceName in LMAGroup.
var LogTypes = []string{"flows", "dns", "audit_ee", "audit_kube", "events"}

// Checker is what the manager asks the API server (kubeauth.Checker).
type Checker interface {
	Authenticate(ctx context.Context, token string) (kubeauth.User, error)
	Authorize(ctx context.Context, u kubeauth.User, a kubeauth.Access) (bool, error)
}

// Logs reads Linseed as the manager: path and JSON body in, JSON out;
// Bulk dismisses and deletes events (client.Client has both).
type Logs interface {
	Post(ctx context.Context, path string, body any, out any) error
	Bulk(ctx context.Context, method, path string, records []any) (api.BulkResponse, error)
}

// Config configures the handler.
type Config struct {
	Checker Checker
	Logs    Logs
	// UserClients reads and writes the cluster as the user; nil leaves
	// the pages that need it unavailable.
	UserClients UserClients
	// Cluster is the cluster's name in Linseed and in log access checks.
	Cluster string
	// Prometheus is the Prometheus API service; nil leaves /prometheus/
	// unrouted. PrometheusTransport reaches it (nil: the default).
	Prometheus          *url.URL
	PrometheusTransport http.RoundTripper
	// PacketCapture is the packet capture API; nil leaves
	// /packet-capture/ unrouted. PacketCaptureTransport reaches it.
	PacketCapture          *url.URL
	PacketCaptureTransport http.RoundTripper
	// Assets is the built console (index.html at its root); nil or
	// without index.html, / says the console was not built.
	Assets fs.FS
	Log    *slog.Logger
}

type server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New makes the handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Checker == nil || cfg.Logs == nil {
		return nil, errors.New("manager: a checker and a log client are required")
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "cluster"
	}
	s := &server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.mux.Handle("GET /api/whoami", s.authed(s.whoami))
	s.mux.Handle("POST /api/flows/logs", s.authed(s.logsRead("flows", s.flowLogs)))
	s.mux.Handle("POST /api/flows/graph", s.authed(s.logsRead("flows", s.flowGraph)))
	s.mux.Handle("POST /api/flows/summary", s.authed(s.logsRead("flows", s.flowSummary)))
	s.mux.Handle("POST /api/dns/logs", s.authed(s.logsRead("dns", s.dnsLogs)))
	s.mux.Handle("GET /api/endpoints", s.authed(s.endpoints))
	s.mux.Handle("POST /api/timeline", s.authed(s.timeline))
	s.mux.Handle("GET /api/policies", s.authed(s.policyBoard))
	s.mux.Handle("POST /api/policies/preview", s.authed(s.logsRead("flows", s.previewPolicies)))
	s.mux.Handle("POST /api/events", s.authed(s.logsRead("events", s.events)))
	s.mux.Handle("POST /api/events/dismiss", s.authed(s.logsRead("events", s.changeEvents("dismiss"))))
	s.mux.Handle("POST /api/events/delete", s.authed(s.logsRead("events", s.changeEvents("delete"))))
	s.mux.Handle("POST /api/alerts/test", s.authed(s.testAlert))
	// Compliance reports, as calico-compliance's server would serve them:
	// the same checks, the console's Linseed client.
	s.mux.Handle("/compliance/", compliance.New(compliance.Config{Checker: cfg.Checker, Linseed: cfg.Logs, Log: s.log}))
	// The console's Compliance page is /compliance itself.
	s.mux.Handle("GET /compliance", s.assets())
	s.mux.Handle("GET /api/resources/{kind}", s.authed(s.listResources))
	s.mux.Handle("PUT /api/resources/{kind}", s.authed(s.putResource))
	s.mux.Handle("DELETE /api/resources/{kind}/{namespace}/{name}", s.authed(s.deleteResource))
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API %s %s", r.Method, r.URL.Path))
	})
	if cfg.Prometheus != nil {
		s.mux.Handle("/prometheus/", s.proxy("/prometheus", cfg.Prometheus, cfg.PrometheusTransport, "the Prometheus API service"))
	}
	if cfg.PacketCapture != nil {
		s.mux.Handle("/packet-capture/", s.proxy("/packet-capture", cfg.PacketCapture, cfg.PacketCaptureTransport, "the packet capture API"))
	}
	s.mux.Handle("/", s.assets())
	return s.mux, nil
}

// writeError is every UI API error: {"error": msg}.
var writeError = httpjson.Error

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// authed runs h for an authenticated user; otherwise 401 (no token, or
// one the API server does not accept) or 503 (it could not be asked).
func (s *server) authed(h func(http.ResponseWriter, *http.Request, kubeauth.User)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := kubeauth.BearerToken(r)
		if tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="calico-manager"`)
			writeError(w, http.StatusUnauthorized, "log in: no Bearer token")
			return
		}
		u, err := s.cfg.Checker.Authenticate(r.Context(), tok)
		switch {
		case errors.Is(err, kubeauth.ErrInvalidToken):
			w.Header().Set("WWW-Authenticate", `Bearer realm="calico-manager", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "the API server does not accept this token (expired, revoked or mistyped)")
			return
		case err != nil:
			s.log.Error("token review", "err", err)
			writeError(w, http.StatusServiceUnavailable, "cannot check the token with the API server: "+err.Error())
			return
		}
		h(w, r, u)
	})
}

// logAccess is the check for reading one log type.
func (s *server) logAccess(logType string) kubeauth.Access {
	return kubeauth.Access{Group: LMAGroup, Resource: s.cfg.Cluster, Name: logType, Verb: "get"}
}

// mayRead says whether u may read a log type.
func (s *server) mayRead(ctx context.Context, u kubeauth.User, logType string) (bool, error) {
	return s.cfg.Checker.Authorize(ctx, u, s.logAccess(logType))
}

// logsRead runs h if u may read the log type; otherwise 403 naming what
// is missing.
func (s *server) logsRead(logType string, h func(http.ResponseWriter, *http.Request, kubeauth.User)) func(http.ResponseWriter, *http.Request, kubeauth.User) {
	return func(w http.ResponseWriter, r *http.Request, u kubeauth.User) {
		ok, err := s.mayRead(r.Context(), u, logType)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "cannot check access with the API server: "+err.Error())
			return
		}
		if !ok {
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s may not read %s logs: that needs get on %s named %q in API group %s",
				u.Name, logType, s.cfg.Cluster, logType, LMAGroup))
			return
		}
		h(w, r, u)
	}
}

// Whoami is the signed-in user and what they may see.
type Whoami struct {
	User   string          `json:"user"`
	Groups []string        `json:"groups"`
	Logs   map[string]bool `json:"logs"`
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request, u kubeauth.User) {
	out := Whoami{User: u.Name, Groups: u.Groups, Logs: map[string]bool{}}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	for _, t := range LogTypes {
		ok, err := s.mayRead(r.Context(), u, t)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "cannot check access with the API server: "+err.Error())
			return
		}
		out.Logs[t] = ok
	}
	writeJSON(w, out)
}

// proxy passes prefix/… to a service behind the console (the Prometheus
// API service, the packet capture API) without the prefix, with the
// caller's own token: the service checks it, so what a user reaches there
// is exactly their RBAC. Responses stream (a capture's zip is never
// held).
func (s *server) proxy(prefix string, target *url.URL, transport http.RoundTripper, what string) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = singleJoin(target.Path, strings.TrimPrefix(pr.In.URL.Path, prefix))
			pr.Out.URL.RawPath = ""
			pr.Out.Host = target.Host
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			s.log.Warn(what, "err", err)
			writeError(w, http.StatusBadGateway, what+" does not answer: "+err.Error())
		},
	}
}

func singleJoin(a, b string) string {
	if a == "" {
		return b
	}
	return strings.TrimSuffix(a, "/") + "/" + strings.TrimPrefix(b, "/")
}

// assets serves the console; paths that are not files are the app's own
// routes and get index.html, so bookmarked URLs load.
func (s *server) assets() http.Handler {
	if s.cfg.Assets == nil {
		return http.HandlerFunc(notBuilt)
	}
	if _, err := fs.Stat(s.cfg.Assets, "index.html"); err != nil {
		return http.HandlerFunc(notBuilt)
	}
	files := http.FileServerFS(s.cfg.Assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the console's pages are read with GET", http.StatusMethodNotAllowed)
			return
		}
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if st, err := fs.Stat(s.cfg.Assets, p); p == "" || err != nil || st.IsDir() {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, s.cfg.Assets, "index.html")
			return
		}
		if strings.HasPrefix(p, "assets/") {
			// Vite names them by content hash.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}

func notBuilt(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, "The console's assets were not built into this binary: build it with `make build` (which runs the web build first).")
}

// requestTimeout bounds a UI API call's work behind it.
const requestTimeout = 30 * time.Second
