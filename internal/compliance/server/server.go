// Package server serves compliance reports to people: the list of
// reports (with their summaries and downloads), one report, and a
// report's download rendered from its type's template. Each request is
// authenticated by its bearer token, and a user sees a report only with
// get on its GlobalReport and its GlobalReportType (SubjectAccessReview),
// as in Calico Enterprise. The console serves it at /compliance/.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/calicong/calico/internal/compliance/report"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/linseed/api"
)

// ReportsPath is Linseed's.
const ReportsPath = "/compliance/reports"

// Checker authenticates tokens and authorises actions (kubeauth.Checker).
type Checker interface {
	Authenticate(ctx context.Context, token string) (kubeauth.User, error)
	Authorize(ctx context.Context, u kubeauth.User, a kubeauth.Access) (bool, error)
}

// Poster reads Linseed (client.Client).
type Poster interface {
	Post(ctx context.Context, path string, body, out any) error
}

// Config configures the handler.
type Config struct {
	Checker Checker
	Linseed Poster
	Log     *slog.Logger
}

type server struct {
	cfg Config
	log *slog.Logger
}

// New makes the handler, serving /compliance/reports,
// /compliance/reports/{id} and /compliance/reports/{id}/download/{file}.
func New(cfg Config) http.Handler {
	s := &server{cfg: cfg, log: cfg.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /compliance/reports", s.authed(s.list))
	mux.HandleFunc("GET /compliance/reports/{id}", s.authed(s.one))
	mux.HandleFunc("GET /compliance/reports/{id}/download/{file}", s.authed(s.download))
	mux.HandleFunc("/compliance/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such compliance endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// Summary is a report in the list.
type Summary struct {
	ID             string          `json:"id"`
	ReportName     string          `json:"reportName"`
	ReportTypeName string          `json:"reportTypeName"`
	StartTime      string          `json:"startTime"`
	EndTime        string          `json:"endTime"`
	GenerationTime string          `json:"generationTime"`
	UISummary      json.RawMessage `json:"uiSummary,omitempty"`
	Downloads      []Download      `json:"downloads"`
}

// Download is one of a report's files.
type Download struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url"`
}

func (s *server) authed(h func(http.ResponseWriter, *http.Request, kubeauth.User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := kubeauth.BearerToken(r)
		if tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="calico-compliance"`)
			writeError(w, http.StatusUnauthorized, "no Bearer token")
			return
		}
		u, err := s.cfg.Checker.Authenticate(r.Context(), tok)
		if errors.Is(err, kubeauth.ErrInvalidToken) {
			writeError(w, http.StatusUnauthorized, "the API server does not accept this token")
			return
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "cannot check the token with the API server: "+err.Error())
			return
		}
		h(w, r, u)
	}
}

// access says whether u may see a report: get on its GlobalReport and
// on its GlobalReportType. Decisions are kept for the request.
type access struct {
	s    *server
	u    kubeauth.User
	seen map[string]bool
}

func (a *access) may(ctx context.Context, reportName, typeName string) (bool, error) {
	for _, c := range []kubeauth.Access{{Group: "projectcalico.org", Resource: "globalreports", Verb: "get", Name: reportName},
		{Group: "projectcalico.org", Resource: "globalreporttypes", Verb: "get", Name: typeName}} {
		k := c.Resource + "/" + c.Name
		ok, known := a.seen[k]
		if !known {
			var err error
			if ok, err = a.s.cfg.Checker.Authorize(ctx, a.u, c); err != nil {
				return false, err
			}
			a.seen[k] = ok
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// list: GET /compliance/reports[?reportName=&max=] — the newest reports
// the user may see, with their summaries and downloads.
func (s *server) list(w http.ResponseWriter, r *http.Request, u kubeauth.User) {
	max := 100
	if v := r.URL.Query().Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("max %q: 1 to 1000", v))
			return
		}
		max = n
	}
	p := api.Params{MaxPageSize: max}
	if name := r.URL.Query().Get("reportName"); name != "" {
		p.Selector = "reportName = " + strconv.Quote(name)
	}
	var page api.List
	if err := s.cfg.Linseed.Post(r.Context(), ReportsPath, p, &page); err != nil {
		s.linseedFailed(w, err)
		return
	}
	a := &access{s: s, u: u, seen: map[string]bool{}}
	out := struct {
		Reports []Summary `json:"reports"`
	}{Reports: []Summary{}}
	for _, it := range page.Items {
		var st report.Stored
		if err := json.Unmarshal(it, &st); err != nil {
			continue
		}
		ok, err := a.may(r.Context(), st.ReportName, st.ReportTypeName)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "cannot check access with the API server: "+err.Error())
			return
		}
		if !ok {
			continue
		}
		sum := Summary{ID: st.ID, ReportName: st.ReportName, ReportTypeName: st.ReportTypeName,
			StartTime: st.StartTime.UTC().Format("2006-01-02T15:04:05Z"), EndTime: st.EndTime.UTC().Format("2006-01-02T15:04:05Z"),
			GenerationTime: st.GenerationTime.UTC().Format("2006-01-02T15:04:05Z"), Downloads: []Download{}}
		if json.Valid([]byte(st.UISummary)) {
			sum.UISummary = json.RawMessage(st.UISummary)
		}
		for _, d := range st.ReportTypeSpec.DownloadTemplates {
			sum.Downloads = append(sum.Downloads, Download{Name: d.Name, Description: d.Description,
				URL: path.Join("/compliance/reports", st.ID, "download", d.Name)})
		}
		out.Reports = append(out.Reports, sum)
	}
	writeJSON(w, http.StatusOK, out)
}

// get reads one stored report the user may see (the answer is written
// when not).
func (s *server) get(w http.ResponseWriter, r *http.Request, u kubeauth.User) (*report.Stored, bool) {
	id := r.PathValue("id")
	var page api.List
	if err := s.cfg.Linseed.Post(r.Context(), ReportsPath, api.Params{Selector: "id = " + strconv.Quote(id), MaxPageSize: 1}, &page); err != nil {
		s.linseedFailed(w, err)
		return nil, false
	}
	if len(page.Items) == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no report %q", id))
		return nil, false
	}
	var st report.Stored
	if err := json.Unmarshal(page.Items[0], &st); err != nil {
		writeError(w, http.StatusInternalServerError, "the stored report: "+err.Error())
		return nil, false
	}
	a := &access{s: s, u: u, seen: map[string]bool{}}
	ok, err := a.may(r.Context(), st.ReportName, st.ReportTypeName)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot check access with the API server: "+err.Error())
		return nil, false
	}
	if !ok {
		// As absent as a report that is not there.
		writeError(w, http.StatusNotFound, fmt.Sprintf("no report %q that %s may see (get on globalreports %s and globalreporttypes %s)",
			id, u.Name, st.ReportName, st.ReportTypeName))
		return nil, false
	}
	return &st, true
}

func (s *server) one(w http.ResponseWriter, r *http.Request, u kubeauth.User) {
	if st, ok := s.get(w, r, u); ok {
		writeJSON(w, http.StatusOK, st)
	}
}

// download renders one of the report type's downloads.
func (s *server) download(w http.ResponseWriter, r *http.Request, u kubeauth.User) {
	st, ok := s.get(w, r, u)
	if !ok {
		return
	}
	file := r.PathValue("file")
	for _, d := range st.ReportTypeSpec.DownloadTemplates {
		if d.Name != file {
			continue
		}
		out, err := report.Render(d.Name, d.Template, &st.ReportData)
		if err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("rendering %s: %v", d.Name, err))
			return
		}
		ct := mime.TypeByExtension(path.Ext(d.Name))
		if ct == "" || strings.HasSuffix(d.Name, ".csv") {
			ct = "text/csv; charset=utf-8"
		}
		if strings.HasSuffix(d.Name, ".yaml") {
			ct = "application/yaml"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": st.ID + "-" + d.Name}))
		_, _ = w.Write(out)
		return
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("report type %s has no download %q", st.ReportTypeName, file))
}

func (s *server) linseedFailed(w http.ResponseWriter, err error) {
	s.log.Error("linseed", "err", err)
	writeError(w, http.StatusBadGateway, "the log store (Linseed) did not answer: "+err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"status": status, "error": msg})
}
