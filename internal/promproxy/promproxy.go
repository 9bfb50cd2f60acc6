// Package promproxy is calico-prometheus-service: a reverse proxy in
// front of Prometheus's HTTP API that lets through only callers
// Kubernetes RBAC allows, as Calico Enterprise's prometheus-service
// does. A request's bearer token is checked with a TokenReview (none or
// a bad one is 401); the caller then needs `get` (GET) or `create`
// (POST) on `services/proxy` named `calico-node-prometheus:9090` in
// Prometheus's namespace (403 otherwise); any other method is 405.
// Answers are passed through unchanged and streamed; a client that goes
// away cancels the upstream request. /health needs no token.
package promproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/kubeauth"
)

// ServiceName is the service whose proxy subresource a caller must be
// allowed: Calico Enterprise's, so its RBAC carries over.
const ServiceName = "calico-node-prometheus:9090"

// Checker authenticates tokens and authorises actions
// (kubeauth.Checker).
type Checker interface {
	Authenticate(ctx context.Context, token string) (kubeauth.User, error)
	Authorize(ctx context.Context, u kubeauth.User, a kubeauth.Access) (bool, error)
}

// Config configures the proxy.
type Config struct {
	// Upstream is Prometheus's URL (http://prometheus:9090).
	Upstream *url.URL
	Checker  Checker
	// Namespace is Prometheus's namespace, where the caller needs the
	// services/proxy permission.
	Namespace string
	// Names are the services/proxy names that each suffice (default
	// ServiceName).
	Names []string
	// Transport reaches Prometheus (default http.DefaultTransport).
	Transport  http.RoundTripper
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

type handler struct {
	cfg      Config
	log      *slog.Logger
	proxy    *httputil.ReverseProxy
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New makes the proxy's handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Upstream == nil || cfg.Checker == nil || cfg.Namespace == "" {
		return nil, errors.New("promproxy: Upstream, Checker and Namespace are required")
	}
	if len(cfg.Names) == 0 {
		cfg.Names = []string{ServiceName}
	}
	h := &handler{cfg: cfg, log: cfg.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Transport == nil {
		// Keep connections to Prometheus for a dashboard's concurrent
		// queries: the default keeps two, and every other query would
		// open a new connection.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 128
		cfg.Transport = t
	}
	up := cfg.Upstream
	h.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			// The caller's token is for this proxy, not for Prometheus.
			r.Out.Header.Del("Authorization")
		},
		Transport: timed{cfg.Transport},
		// Stream: pass every chunk on as it comes.
		FlushInterval: -1,
		// Reuse the copy buffers (32 KiB each): a dashboard's burst would
		// otherwise allocate one per query.
		BufferPool: bufferPool{},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client went away
			}
			h.log.Warn("prometheus unreachable", "err", err)
			httpError(w, http.StatusBadGateway, "prometheus: "+err.Error())
		},
	}
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calico_prometheus_service_requests_total",
		Help: "Requests by outcome: the HTTP status the proxy or Prometheus answered."}, []string{"code"})
	h.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "calico_prometheus_service_check_seconds",
		Help: "Time spent authenticating and authorising a request (cached answers included).", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8)}, []string{"result"})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{h.requests, h.latency} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

// timed adds to each of Prometheus's answers a Server-Timing entry
// "prometheus" with the milliseconds until its headers came: what the
// query cost upstream, apart from what the proxy added (browsers' tools
// show it, and the benchmark pairs it with each query's whole time).
type timed struct{ rt http.RoundTripper }

func (t timed) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.rt.RoundTrip(req)
	if err == nil {
		resp.Header.Add("Server-Timing", fmt.Sprintf("prometheus;dur=%.3f", float64(time.Since(start).Microseconds())/1000))
	}
	return resp, err
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { h.requests.WithLabelValues(fmt.Sprint(rec.code())).Inc() }()
	if r.URL.Path == "/health" {
		rec.WriteHeader(http.StatusOK)
		fmt.Fprintln(rec, "ok")
		return
	}
	var verb string
	switch r.Method {
	case http.MethodGet:
		verb = "get"
	case http.MethodPost:
		verb = "create"
	default:
		rec.Header().Set("Allow", "GET, POST")
		httpError(rec, http.StatusMethodNotAllowed, fmt.Sprintf("method %s: Prometheus's API is read with GET or POST", r.Method))
		return
	}
	start := time.Now()
	status, msg := h.check(r, verb)
	result := "allowed"
	if status != 0 {
		result = "refused"
	}
	h.latency.WithLabelValues(result).Observe(time.Since(start).Seconds())
	if status != 0 {
		if status == http.StatusUnauthorized {
			rec.Header().Set("WWW-Authenticate", `Bearer realm="calico-prometheus-service"`)
		}
		httpError(rec, status, msg)
		return
	}
	h.proxy.ServeHTTP(rec, r)
}

// check authenticates and authorises a request: 0 if it may go on, else
// the status and why.
func (h *handler) check(r *http.Request, verb string) (int, string) {
	token := kubeauth.BearerToken(r)
	if token == "" {
		return http.StatusUnauthorized, "no bearer token: send Authorization: Bearer <token>"
	}
	u, err := h.cfg.Checker.Authenticate(r.Context(), token)
	if errors.Is(err, kubeauth.ErrInvalidToken) {
		return http.StatusUnauthorized, "the token is not valid"
	}
	if err != nil {
		h.log.Warn("authenticating a request", "err", err)
		return http.StatusServiceUnavailable, "cannot check the token now: " + err.Error()
	}
	for _, name := range h.cfg.Names {
		allowed, err := h.cfg.Checker.Authorize(r.Context(), u, kubeauth.Access{
			Resource: "services", Subresource: "proxy", Verb: verb, Name: name, Namespace: h.cfg.Namespace})
		if err != nil {
			h.log.Warn("authorising a request", "user", u.Name, "err", err)
			return http.StatusServiceUnavailable, "cannot check the permission now: " + err.Error()
		}
		if allowed {
			return 0, ""
		}
	}
	return http.StatusForbidden, fmt.Sprintf("user %q may not %s services/proxy %q in namespace %q", u.Name, verb, h.cfg.Names[0], h.cfg.Namespace)
}

// bufferPool lends ReverseProxy its copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Prometheus's own error shape, so its clients show the reason.
	fmt.Fprintf(w, `{"status":"error","errorType":%q,"error":%q}`+"\n", strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), msg)
}

// statusRecorder remembers the status written; it passes Flush on, so
// streaming still works through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}
