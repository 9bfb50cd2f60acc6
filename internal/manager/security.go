package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/internal/intrusion/alerts"
	"github.com/calicong/calico/internal/intrusion/events"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/linseed/api"
)

// EventQuery is the alerts page's filter: a time range, the lowest
// severity, the event type, a namespace (of the source or the
// destination) and whether dismissed events are shown.
type EventQuery struct {
	From             time.Time      `json:"from"`
	To               time.Time      `json:"to"`
	MinSeverity      int            `json:"min_severity,omitempty"`
	Type             string         `json:"type,omitempty"`
	Namespace        string         `json:"namespace,omitempty"`
	Origin           string         `json:"origin,omitempty"`
	IncludeDismissed bool           `json:"include_dismissed,omitempty"`
	PageSize         int            `json:"page_size,omitempty"`
	AfterKey         map[string]any `json:"after_key,omitempty"`
}

func (q *EventQuery) validate(now time.Time) error {
	fq := FlowQuery{From: q.From, To: q.To, Namespace: q.Namespace, Name: q.Origin, PageSize: q.PageSize}
	var errs []error
	if err := fq.validate(now); err != nil {
		errs = append(errs, err)
	}
	q.From, q.To, q.PageSize = fq.From, fq.To, fq.PageSize
	if q.MinSeverity < 0 || q.MinSeverity > 100 {
		errs = append(errs, fmt.Errorf("min_severity %d: 0-100", q.MinSeverity))
	}
	if q.Type != "" && !namePattern.MatchString(q.Type) {
		errs = append(errs, fmt.Errorf("type %q: an event type such as gtf_suspicious_flow", q.Type))
	}
	return errors.Join(errs...)
}

func (q *EventQuery) linseedParams() api.Params {
	p := api.Params{TimeRange: &api.TimeRange{From: q.From, To: q.To}, MaxPageSize: q.PageSize, AfterKey: q.AfterKey,
		Sort: []api.SortBy{{Field: "time", Descending: true}}}
	var sel []string
	if q.MinSeverity > 0 {
		sel = append(sel, fmt.Sprintf("severity >= %d", q.MinSeverity))
	}
	if q.Type != "" {
		sel = append(sel, "type = "+strconv.Quote(q.Type))
	}
	if q.Origin != "" {
		sel = append(sel, "origin = "+strconv.Quote(q.Origin))
	}
	if q.Namespace != "" {
		sel = append(sel, fmt.Sprintf("(source_namespace = %s OR dest_namespace = %s)", strconv.Quote(q.Namespace), strconv.Quote(q.Namespace)))
	}
	if !q.IncludeDismissed {
		sel = append(sel, "dismissed = false")
	}
	p.Selector = strings.Join(sel, " AND ")
	return p
}

// events: POST /api/events, a page of security events, newest first.
func (s *server) events(w http.ResponseWriter, r *http.Request, _ kubeauth.User) {
	var q EventQuery
	if !decodeFilter(w, r, "event", &q, q.validate) {
		return
	}
	var page FlowPage
	if !s.linseed(w, r.Context(), events.ListPath, q.linseedParams(), &page) {
		return
	}
	if page.Items == nil {
		page.Items = []json.RawMessage{}
	}
	writeJSON(w, page)
}

// EventChange names the events to dismiss or delete.
type EventChange struct {
	IDs []string `json:"ids"`
}

// changeEvents: POST /api/events/dismiss and /api/events/delete. The
// user must be allowed the verb on events in Linseed's API group, as a
// component writing to Linseed itself would be.
func (s *server) changeEvents(verb string) func(http.ResponseWriter, *http.Request, kubeauth.User) {
	method := map[string]string{"dismiss": http.MethodPut, "delete": http.MethodDelete}[verb]
	return func(w http.ResponseWriter, r *http.Request, u kubeauth.User) {
		ok, err := s.cfg.Checker.Authorize(r.Context(), u, kubeauth.Access{Group: api.APIGroup, Resource: "events", Verb: verb})
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "cannot check access with the API server: "+err.Error())
			return
		}
		if !ok {
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s may not %s security events: that needs %s on events in API group %s", u.Name, verb, verb, api.APIGroup))
			return
		}
		var c EventChange
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil || len(c.IDs) == 0 || len(c.IDs) > 1000 {
			writeError(w, http.StatusBadRequest, `the body names the events: {"ids": ["…"]} (1 to 1000)`)
			return
		}
		recs := make([]any, len(c.IDs))
		for i, id := range c.IDs {
			recs[i] = map[string]string{"id": id}
		}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		res, err := s.cfg.Logs.Bulk(ctx, method, events.BulkPath, recs)
		if err != nil {
			s.linseedFailed(w, err)
			return
		}
		writeJSON(w, map[string]int{"changed": res.Succeeded})
	}
}

// AlertTest is a rule to try: its name and spec, as the editor has them.
type AlertTest struct {
	Name string             `json:"name"`
	Spec v3.GlobalAlertSpec `json:"spec"`
}

// AlertTestResult is what the rule would do now: its window and the
// events one run would write.
type AlertTestResult struct {
	From   time.Time      `json:"from"`
	To     time.Time      `json:"to"`
	Events []events.Event `json:"events"`
}

// alertDataSetLogs is the log type (as access checks name it) each data
// set reads.
var alertDataSetLogs = map[string]string{"flows": "flows", "dns": "dns", "audit": "audit_ee"}

// testAlert: POST /api/alerts/test runs a GlobalAlert's spec once over
// recent data, without writing its events: the validator first (the
// same refusals as calicoctl and admission), then access to the data
// set's logs.
func (s *server) testAlert(w http.ResponseWriter, r *http.Request, u kubeauth.User) {
	var t AlertTest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		writeError(w, http.StatusBadRequest, "the body is not a rule to test ({\"name\", \"spec\"}): "+err.Error())
		return
	}
	if t.Name == "" {
		t.Name = "test"
	}
	a := &v3.GlobalAlert{ObjectMeta: metav1.ObjectMeta{Name: t.Name}, Spec: t.Spec}
	v3.Default(a)
	if errs := validation.Validate(a); len(errs) > 0 {
		writeError(w, http.StatusBadRequest, errs.ToAggregate().Error())
		return
	}
	logType := alertDataSetLogs[a.Spec.DataSet]
	ok, err := s.mayRead(r.Context(), u, logType)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot check access with the API server: "+err.Error())
		return
	}
	if !ok {
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s may not read %s logs, which this rule reads", u.Name, logType))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	now := time.Now()
	evs, err := alerts.Evaluate(ctx, s.cfg.Logs, a.Name, a.Spec, now)
	if err != nil {
		s.linseedFailed(w, err)
		return
	}
	from, to := alerts.Window(a.Spec, now)
	if evs == nil {
		evs = []events.Event{}
	}
	slices.SortFunc(evs, func(x, y events.Event) int { return strings.Compare(x.Description, y.Description) })
	writeJSON(w, AlertTestResult{From: from, To: to, Events: evs})
}
