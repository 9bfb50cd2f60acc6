// Package api is Linseed's HTTP API under /api/v1: reads (POST with a
// JSON body of parameters), counts, aggregations and bulk writes
// (NDJSON) of every log type, each request authenticated by its bearer
// token and authorised for the resource it touches in API group
// linseed.tigera.io, for the cluster named by x-cluster-id. Paths,
// bodies and resource names are Calico Enterprise's Linseed's.
//
// The handler is transport only: TLS (and client certificates) is the
// server's, the store and the Kubernetes checks are interfaces.
package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/logquery"
)

// APIGroup is the API group Linseed's resources are authorised in.
const APIGroup = "linseed.tigera.io"

// User is an authenticated caller.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// ErrUnauthenticated is an Authenticator's answer to a token that is not
// valid (401); other errors are failures to check (503).
var ErrUnauthenticated = errors.New("the token is not valid")

// Authenticator checks a bearer token (a TokenReview).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (User, error)
}

// Authorizer checks an action (a SubjectAccessReview): verb on resource
// in APIGroup.
type Authorizer interface {
	Authorize(ctx context.Context, u User, verb, resource string) (bool, error)
}

// Config configures the handler.
type Config struct {
	Store store.Store
	Authn Authenticator
	Authz Authorizer
	// Types are the log types (logtype.All() when nil).
	Types map[string]*logtype.Type
	// MaxBodyBytes bounds a request's body (default 64 MiB).
	MaxBodyBytes int64
	Registerer   prometheus.Registerer
	Log          *slog.Logger
}

// DefaultCluster is the cluster of a request without x-cluster-id.
const DefaultCluster = "cluster"

var clusterName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$`)

type handler struct {
	cfg     Config
	log     *slog.Logger
	types   map[string]*logtype.Type
	mux     *http.ServeMux
	metrics *metrics
}

// New makes the handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil || cfg.Authn == nil || cfg.Authz == nil {
		return nil, errors.New("linseed api: a store, an authenticator and an authorizer are required")
	}
	if cfg.Types == nil {
		cfg.Types = logtype.All()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 20
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, log: log, types: cfg.Types, mux: http.NewServeMux(), metrics: m}
	for _, r := range routes {
		if _, ok := h.types[r.typ]; !ok {
			return nil, fmt.Errorf("linseed api: route %s: unknown log type %q", r.path, r.typ)
		}
		h.mux.Handle(r.method+" /api/v1"+r.path, h.serve(r))
	}
	h.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return h.mux, nil
}

// op is what an endpoint does.
type op int

const (
	opList op = iota
	opCount
	opAggregate
	opBulk
	opDismiss
	opDelete
	opFlows
	// opPut writes documents that replace those with the same "id".
	opPut
)

type route struct {
	method, path string
	typ          string
	// resource and verb are what the caller must be allowed.
	resource, verb string
	op             op
}

// reads and writes of one log type at a base path.
func logRoutes(base, typ, resource string, aggregate bool) []route {
	rs := []route{
		{"POST", base, typ, resource, "get", opList},
		{"POST", base + "/count", typ, resource, "get", opCount},
		{"POST", base + "/bulk", typ, resource, "create", opBulk},
	}
	if aggregate {
		rs = append(rs, route{"POST", base + "/aggregation", typ, resource, "get", opAggregate})
	}
	return rs
}

var routes = func() []route {
	var rs []route
	rs = append(rs, logRoutes("/flows/logs", logtype.Flows, "flowlogs", true)...)
	rs = append(rs, route{"POST", "/flows", logtype.Flows, "flows", "get", opFlows})
	rs = append(rs, logRoutes("/dns/logs", logtype.DNS, "dnslogs", true)...)
	rs = append(rs, logRoutes("/bgp/logs", logtype.BGP, "bgplogs", false)...)
	rs = append(rs,
		route{"POST", "/audit/logs", logtype.AuditKube, "auditlogs", "get", opList},
		route{"POST", "/audit/logs/count", logtype.AuditKube, "auditlogs", "get", opCount},
		route{"POST", "/audit/logs/aggregation", logtype.AuditKube, "auditlogs", "get", opAggregate},
		route{"POST", "/audit/logs/ee/bulk", logtype.AuditEE, "ee_auditlogs", "create", opBulk},
		route{"POST", "/audit/logs/kube/bulk", logtype.AuditKube, "kube_auditlogs", "create", opBulk},
		route{"POST", "/events", logtype.Events, "events", "get", opList},
		route{"POST", "/events/count", logtype.Events, "events", "get", opCount},
		route{"POST", "/events/statistics", logtype.Events, "events", "get", opAggregate},
		route{"POST", "/events/bulk", logtype.Events, "events", "create", opBulk},
		route{"PUT", "/events/bulk", logtype.Events, "events", "dismiss", opDismiss},
		route{"DELETE", "/events/bulk", logtype.Events, "events", "delete", opDelete},
	)
	rs = append(rs, logRoutes("/compliance/reports", logtype.ComplianceReports, "compliancereports", false)...)
	rs = append(rs, logRoutes("/compliance/snapshots", logtype.ComplianceSnapshots, "snapshots", false)...)
	rs = append(rs, logRoutes("/compliance/benchmarks", logtype.ComplianceBenchmarks, "benchmarks", false)...)
	for _, f := range []struct{ path, typ, resource string }{
		{"/threatfeeds/ipset", logtype.ThreatFeedsIPSet, "threatfeeds_ipset"},
		{"/threatfeeds/domainnameset", logtype.ThreatFeedsDomainNameSet, "threatfeeds_domainnameset"},
	} {
		rs = append(rs,
			route{"POST", f.path, f.typ, f.resource, "get", opList},
			route{"POST", f.path + "/bulk", f.typ, f.resource, "create", opPut},
			route{"DELETE", f.path + "/bulk", f.typ, f.resource, "delete", opDelete},
		)
	}
	return rs
}()

// statusWriter records the status for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (h *handler) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.handle(sw, r, rt)
		h.metrics.requests.WithLabelValues(rt.method+" "+rt.path, strconv.Itoa(sw.status)).Inc()
		h.metrics.duration.WithLabelValues(rt.method + " " + rt.path).Observe(time.Since(start).Seconds())
	})
}

func (h *handler) handle(w http.ResponseWriter, r *http.Request, rt route) {
	ctx := r.Context()
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="linseed"`)
		writeError(w, http.StatusUnauthorized, "no bearer token: send Authorization: Bearer <ServiceAccount token>")
		return
	}
	user, err := h.cfg.Authn.Authenticate(ctx, strings.TrimSpace(token))
	if errors.Is(err, ErrUnauthenticated) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="linseed", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "the bearer token is not valid (expired, revoked or for another cluster)")
		return
	}
	if err != nil {
		h.log.Warn("authentication failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot check the token now: "+err.Error())
		return
	}
	allowed, err := h.cfg.Authz.Authorize(ctx, user, rt.verb, rt.resource)
	if err != nil {
		h.log.Warn("authorization failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot check permissions now: "+err.Error())
		return
	}
	if !allowed {
		writeError(w, http.StatusForbidden, fmt.Sprintf("%q may not %s %s (API group %s)", user.Name, rt.verb, rt.resource, APIGroup))
		return
	}
	cluster := r.Header.Get("x-cluster-id")
	if cluster == "" {
		cluster = DefaultCluster
	}
	if !clusterName.MatchString(cluster) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("x-cluster-id %q: use lower-case letters, digits, '-', '_' and '.' (at most 63)", cluster))
		return
	}
	typ := h.types[rt.typ]
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
	switch rt.op {
	case opBulk, opPut:
		h.bulk(w, r, typ, cluster, rt.op == opPut)
	case opDismiss, opDelete:
		h.changeEvents(w, r, typ, cluster, rt.op)
	default:
		h.read(w, r, rt, typ, cluster)
	}
}

// writeList writes a page as a List, each record as the type encodes it
// (already compact JSON: json.Encoder would check and copy every byte
// of it again).
func writeList(w http.ResponseWriter, typ *logtype.Type, page store.Page) {
	// A flow log is about 1.5 KiB: one allocation for most pages.
	buf := make([]byte, 0, 64<<10+len(page.Rows)*2048)
	buf = append(buf, `{"items":[`...)
	for i, row := range page.Rows {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = typ.Encode(buf, row)
	}
	after, _ := json.Marshal(encodeCursor(page.Next))
	buf = append(buf, `],"after_key":`...)
	buf = append(buf, after...)
	buf = append(buf, `,"total_hits":`...)
	buf = strconv.AppendInt(buf, page.Total, 10)
	buf = append(buf, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"status": status, "error": msg})
}

// storeError answers a store's error: a bad query is the caller's, a
// full disk is 507, the rest 500.
func (h *handler) storeError(w http.ResponseWriter, err error) {
	var pe *ParamError
	switch {
	case errors.As(err, &pe), errors.Is(err, store.ErrBadQuery):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrFull):
		writeError(w, http.StatusInsufficientStorage, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "the query took longer than its timeout")
	default:
		h.log.Error("store error", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func (h *handler) params(w http.ResponseWriter, r *http.Request) (*Params, bool) {
	var p Params
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("reading the body: %v", err))
		return nil, false
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		d := json.NewDecoder(strings.NewReader(string(body)))
		d.DisallowUnknownFields()
		if err := d.Decode(&p); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("the body is not valid parameters: %v", err))
			return nil, false
		}
	}
	return &p, true
}

func (h *handler) read(w http.ResponseWriter, r *http.Request, rt route, typ *logtype.Type, cluster string) {
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if p.Timeout != "" {
		d, err := time.ParseDuration(p.Timeout)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("timeout %q: a duration such as 30s", p.Timeout))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if rt.path == "/audit/logs" || strings.HasPrefix(rt.path, "/audit/logs/") {
		t, err := h.auditType(r, p.Type)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		typ = t
	}
	q, err := p.query(typ, cluster)
	if err != nil {
		h.storeError(w, err)
		return
	}
	switch rt.op {
	case opList:
		page, err := h.cfg.Store.List(ctx, typ, q)
		if err != nil {
			h.storeError(w, err)
			return
		}
		writeList(w, typ, page)
	case opCount:
		n, err := h.cfg.Store.Count(ctx, typ, q)
		if err != nil {
			h.storeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int64{"count": n})
	case opAggregate:
		res, err := h.aggregate(ctx, typ, q, p.Aggregations)
		if err != nil {
			h.storeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"aggregations": res})
	case opFlows:
		res, err := h.l3Flows(ctx, typ, q)
		if err != nil {
			h.storeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// auditType picks the audit log a read is of: "type" in the body or the
// URL's query, ee or kube (Calico's resources, or Kubernetes'), default
// kube.
func (h *handler) auditType(r *http.Request, body string) (*logtype.Type, error) {
	t := body
	if q := r.URL.Query().Get("type"); q != "" {
		if t != "" && t != q {
			return nil, fmt.Errorf("type %q in the body and %q in the URL disagree", t, q)
		}
		t = q
	}
	switch t {
	case "", "kube":
		return h.types[logtype.AuditKube], nil
	case "ee":
		return h.types[logtype.AuditEE], nil
	default:
		return nil, fmt.Errorf("type %q: ee (Calico's resources) or kube (Kubernetes')", t)
	}
}

// ndjson checks a bulk request's content type.
func ndjson(w http.ResponseWriter, r *http.Request) bool {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (ct != "application/x-ndjson" && ct != "application/ndjson") {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: bulk writes are application/x-ndjson, one JSON record per line", r.Header.Get("Content-Type")))
		return false
	}
	return true
}

// MaxLine bounds one NDJSON line. Compliance documents are the big ones:
// a snapshot of 5,000 pods, or a report over as many endpoints, is
// several megabytes in one line.
const MaxLine = 32 << 20

// lines reads NDJSON, calling f with each non-empty line and its number.
func lines(r io.Reader, f func(n int, line []byte)) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), MaxLine)
	n := 0
	for s.Scan() {
		n++
		line := s.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		f(n, line)
	}
	if errors.Is(s.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("line %d is longer than %d bytes", n+1, MaxLine)
	}
	return s.Err()
}

// bulk writes NDJSON records; with replace, each replaces the stored
// records with its "id" (a pushed threat feed is one document).
func (h *handler) bulk(w http.ResponseWriter, r *http.Request, typ *logtype.Type, cluster string, replace bool) {
	if !ndjson(w, r) {
		return
	}
	var res BulkResponse
	var rows []logtype.Row
	err := lines(r.Body, func(n int, line []byte) {
		res.Total++
		row, err := typ.Decode(line)
		if err != nil {
			res.Failed++
			if len(res.Errors) < 100 {
				res.Errors = append(res.Errors, BulkError{Line: n, Reason: err.Error()})
			}
			return
		}
		rows = append(rows, row)
	})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes; send smaller batches", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if replace && len(rows) > 0 {
		idCol, ok := typ.ColumnIndex("id")
		if !ok {
			writeError(w, http.StatusInternalServerError, "log type "+typ.Name+" has no id")
			return
		}
		terms := make([]logquery.Node, 0, len(rows))
		for _, row := range rows {
			if id, _ := row.Values[idCol].(string); id != "" {
				terms = append(terms, &logquery.Term{Key: "id", Op: logquery.Eq, Value: id})
			}
		}
		if len(terms) > 0 {
			if _, err := h.cfg.Store.Delete(r.Context(), typ, store.Query{Cluster: cluster, Where: &logquery.Or{Terms: terms}}); err != nil {
				h.storeError(w, err)
				return
			}
		}
	}
	wr, err := h.cfg.Store.Write(r.Context(), typ, cluster, rows)
	if err != nil {
		h.storeError(w, err)
		return
	}
	res.Succeeded = wr.Stored + wr.Duplicates
	res.Duplicates = wr.Duplicates
	h.metrics.written.WithLabelValues(typ.Name).Add(float64(wr.Stored))
	h.metrics.rejected.WithLabelValues(typ.Name).Add(float64(res.Failed))
	writeJSON(w, http.StatusOK, res)
}

// changeEvents dismisses or deletes events (or deletes pushed threat
// feeds) named by their IDs, one {"id": "…"} per line.
func (h *handler) changeEvents(w http.ResponseWriter, r *http.Request, typ *logtype.Type, cluster string, o op) {
	if !ndjson(w, r) {
		return
	}
	var res BulkResponse
	var ids []string
	err := lines(r.Body, func(n int, line []byte) {
		res.Total++
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(line, &ev); err != nil || ev.ID == "" {
			res.Failed++
			res.Errors = append(res.Errors, BulkError{Line: n, Reason: "expected an object with the event's \"id\""})
			return
		}
		ids = append(ids, ev.ID)
	})
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if len(ids) > 0 {
		terms := make([]logquery.Node, len(ids))
		for i, id := range ids {
			terms[i] = &logquery.Term{Key: "id", Op: logquery.Eq, Value: id}
		}
		q := store.Query{Cluster: cluster, Where: &logquery.Or{Terms: terms}}
		var err error
		if o == opDismiss {
			_, err = h.cfg.Store.Update(r.Context(), typ, q, map[string]any{"dismissed": true})
		} else {
			_, err = h.cfg.Store.Delete(r.Context(), typ, q)
		}
		if err != nil {
			h.storeError(w, err)
			return
		}
	}
	res.Succeeded = len(ids)
	writeJSON(w, http.StatusOK, res)
}

type metrics struct {
	requests          *prometheus.CounterVec
	duration          *prometheus.HistogramVec
	written, rejected *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linseed_requests_total", Help: "API requests by endpoint and status code."}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "linseed_request_duration_seconds", Help: "API request duration by endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}, []string{"endpoint"}),
		written:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linseed_records_written_total", Help: "Records stored, by log type."}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linseed_records_rejected_total", Help: "Bulk lines refused as malformed, by log type."}, []string{"type"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.written, m.rejected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
