package manager

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/calicong/calico/internal/kubeauth"
)

// TimelineQuery is the timeline's filter: which audit log (calico: changes
// to Calico's resources; kube: to Kubernetes'), the time range, and the
// object, user and verb, any of which may be empty.
type TimelineQuery struct {
	Type      string         `json:"type"`
	From      time.Time      `json:"from"`
	To        time.Time      `json:"to"`
	Resource  string         `json:"resource,omitempty"`
	Namespace string         `json:"namespace,omitempty"`
	Name      string         `json:"name,omitempty"`
	User      string         `json:"user,omitempty"`
	Verb      string         `json:"verb,omitempty"`
	PageSize  int            `json:"page_size,omitempty"`
	AfterKey  map[string]any `json:"after_key,omitempty"`
	// Before, with the object named, asks for the change just before it
	// (the diff's other side).
	Before time.Time `json:"before,omitzero"`
}

// Change is one write to a resource, as the audit log has it.
type Change struct {
	Time      time.Time       `json:"time"`
	AuditID   string          `json:"audit_id"`
	User      string          `json:"user"`
	Verb      string          `json:"verb"`
	Resource  string          `json:"resource"`
	Namespace string          `json:"namespace,omitempty"`
	Name      string          `json:"name,omitempty"`
	Code      int             `json:"code"`
	Message   string          `json:"message,omitempty"`
	Object    json.RawMessage `json:"object,omitempty"`
}

// auditLogTypes maps the timeline's types to log access names and
// Linseed's audit types.
var auditLogTypes = map[string]struct{ access, linseed string }{
	"calico": {"audit_ee", "ee"},
	"kube":   {"audit_kube", "kube"},
}

var writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}

func (s *server) timeline(w http.ResponseWriter, r *http.Request, u kubeauth.User) {
	var q TimelineQuery
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		writeError(w, http.StatusBadRequest, "the query is not valid JSON of the timeline filter: "+err.Error())
		return
	}
	if q.Type == "" {
		q.Type = "calico"
	}
	lt, ok := auditLogTypes[q.Type]
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("type %q: calico or kube", q.Type))
		return
	}
	fq := FlowQuery{From: q.From, To: q.To, PageSize: q.PageSize}
	if err := fq.validate(time.Now()); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, f := range []struct{ name, v string }{{"resource", q.Resource}, {"namespace", q.Namespace}, {"name", q.Name}, {"verb", q.Verb}} {
		if f.v != "" && !namePattern.MatchString(f.v) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s %q: letters, digits, '-', '_', '.' and the wildcards * and ? only", f.name, f.v))
			return
		}
	}
	if len(q.User) > 256 || strings.ContainsAny(q.User, "\"\\\n") {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("user %q: a user name", q.User))
		return
	}
	ok, err := s.mayRead(r.Context(), u, lt.access)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot check access with the API server: "+err.Error())
		return
	}
	if !ok {
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s may not read %s logs: that needs get on %s named %q in API group %s",
			u.Name, lt.access, s.cfg.Cluster, lt.access, LMAGroup))
		return
	}
	to := fq.To
	if !q.Before.IsZero() {
		if q.Name == "" || q.Resource == "" {
			writeError(w, http.StatusBadRequest, "before needs the object: resource, namespace and name")
			return
		}
		to = q.Before
	}
	verbs := make([]string, 0, len(writeVerbs))
	for _, v := range writeVerbs {
		verbs = append(verbs, strconv.Quote(v))
	}
	// Writes that completed; not the console's own dry runs, which check
	// what is typed and change nothing.
	sel := []string{"verb IN {" + strings.Join(verbs, ", ") + "}", "stage = ResponseComplete", `requestURI NOTIN {"*dryRun=*"}`}
	for _, f := range []struct{ field, v string }{{"objectRef.resource", q.Resource}, {"objectRef.namespace", q.Namespace},
		{"objectRef.name", q.Name}, {"user.username", q.User}, {"verb", q.Verb}} {
		if f.v != "" {
			sel = append(sel, fmt.Sprintf("%s = %s", f.field, strconv.Quote(f.v)))
		}
	}
	p := map[string]any{
		"type":          lt.linseed,
		"time_range":    map[string]any{"from": fq.From.UTC().Format(time.RFC3339Nano), "to": to.UTC().Format(time.RFC3339Nano)},
		"selector":      strings.Join(sel, " AND "),
		"max_page_size": fq.PageSize,
		"sort":          []map[string]any{{"field": "requestReceivedTimestamp", "descending": true}},
	}
	if !q.Before.IsZero() {
		p["max_page_size"] = 1
	}
	if q.AfterKey != nil {
		p["after_key"] = q.AfterKey
	}
	var page struct {
		Items []struct {
			AuditID  string `json:"auditID"`
			Verb     string `json:"verb"`
			Received string `json:"requestReceivedTimestamp"`
			User     struct {
				Username string `json:"username"`
			} `json:"user"`
			ObjectRef struct {
				Resource  string `json:"resource"`
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
			} `json:"objectRef"`
			ResponseStatus struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"responseStatus"`
			RequestObject  json.RawMessage `json:"requestObject"`
			ResponseObject json.RawMessage `json:"responseObject"`
		} `json:"items"`
		AfterKey  map[string]any `json:"after_key"`
		TotalHits int64          `json:"total_hits"`
	}
	if !s.linseed(w, r.Context(), "/audit/logs", p, &page) {
		return
	}
	out := struct {
		Items     []Change       `json:"items"`
		AfterKey  map[string]any `json:"after_key"`
		TotalHits int64          `json:"total_hits"`
	}{Items: []Change{}, AfterKey: page.AfterKey, TotalHits: page.TotalHits}
	for _, it := range page.Items {
		t, _ := time.Parse(time.RFC3339Nano, it.Received)
		obj := it.ResponseObject
		if len(obj) == 0 || string(obj) == "null" || it.ResponseStatus.Code >= 300 {
			// A refused write, or a delete's answer: what was asked.
			obj = it.RequestObject
		}
		out.Items = append(out.Items, Change{Time: t, AuditID: it.AuditID, User: it.User.Username, Verb: it.Verb,
			Resource: it.ObjectRef.Resource, Namespace: it.ObjectRef.Namespace, Name: it.ObjectRef.Name,
			Code: it.ResponseStatus.Code, Message: it.ResponseStatus.Message, Object: obj})
	}
	writeJSON(w, out)
}
