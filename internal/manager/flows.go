package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/linseed/client"
	"github.com/calicong/calico/internal/manager/graph"
)

// FlowQuery is the console's flow filter, as its URL holds it: a time
// range and the filters of the flows page. Empty fields match anything.
type FlowQuery struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Namespace matches either end's namespace; Name either end's
	// aggregated name (a workload's "frontend-7d8c7b944b-*"), with *
	// wildcards.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// The ends on their own (the service graph's edges).
	SourceNamespace string `json:"source_namespace,omitempty"`
	SourceName      string `json:"source_name,omitempty"`
	DestNamespace   string `json:"dest_namespace,omitempty"`
	DestName        string `json:"dest_name,omitempty"`
	// Action is allow or deny; Reporter src or dst.
	Action   string `json:"action,omitempty"`
	Reporter string `json:"reporter,omitempty"`
	// Policy is a policy's name as flow logs have it
	// ("default.allow-cli", or its bare name), matching any tier.
	Policy string `json:"policy,omitempty"`
	Port   int    `json:"port,omitempty"`
	// Paging and order (flow logs only).
	PageSize int            `json:"page_size,omitempty"`
	AfterKey map[string]any `json:"after_key,omitempty"`
	Sort     string         `json:"sort,omitempty"`
	Desc     bool           `json:"desc,omitempty"`
	// Focus is the namespace the graph is drilled into (graph only).
	Focus string `json:"focus,omitempty"`
	// Buckets is how many intervals the dashboard's timeline has.
	Buckets int `json:"buckets,omitempty"`
}

// Limits.
const (
	maxPageSize  = 1000
	maxRange     = 31 * 24 * time.Hour
	defaultRange = time.Hour
)

// sortable are the flow log fields the console sorts by.
var sortable = map[string]bool{"end_time": true, "start_time": true, "source_namespace": true, "source_name_aggr": true,
	"dest_namespace": true, "dest_name_aggr": true, "dest_port": true, "action": true, "reporter": true,
	"bytes_in": true, "bytes_out": true, "packets_in": true, "packets_out": true, "num_flows": true}

var (
	namePattern = regexp.MustCompile(`^[-a-zA-Z0-9_.*?]{1,253}$`)
)

// validate fills defaults and says what is wrong with the query, by its
// field's name.
func (q *FlowQuery) validate(now time.Time) error {
	var errs []error
	if q.To.IsZero() {
		q.To = now
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-defaultRange)
	}
	if !q.From.Before(q.To) {
		errs = append(errs, fmt.Errorf("from (%s) must be before to (%s)", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339)))
	} else if q.To.Sub(q.From) > maxRange {
		errs = append(errs, fmt.Errorf("the time range is %s; at most %s", q.To.Sub(q.From).Round(time.Minute), maxRange))
	}
	for _, f := range []struct{ name, v string }{{"namespace", q.Namespace}, {"name", q.Name}, {"policy", q.Policy}, {"focus", q.Focus},
		{"source_namespace", q.SourceNamespace}, {"source_name", q.SourceName}, {"dest_namespace", q.DestNamespace}, {"dest_name", q.DestName}} {
		if f.v != "" && !namePattern.MatchString(f.v) {
			errs = append(errs, fmt.Errorf("%s %q: letters, digits, '-', '_', '.' and the wildcards * and ? only", f.name, f.v))
		}
	}
	if q.Action != "" && q.Action != "allow" && q.Action != "deny" {
		errs = append(errs, fmt.Errorf("action %q: allow or deny", q.Action))
	}
	if q.Reporter != "" && q.Reporter != "src" && q.Reporter != "dst" {
		errs = append(errs, fmt.Errorf("reporter %q: src or dst", q.Reporter))
	}
	if q.Port < 0 || q.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d: 1-65535", q.Port))
	}
	if q.PageSize < 0 || q.PageSize > maxPageSize {
		errs = append(errs, fmt.Errorf("page_size %d: at most %d", q.PageSize, maxPageSize))
	}
	if q.PageSize == 0 {
		q.PageSize = 100
	}
	if q.Sort != "" && !sortable[q.Sort] {
		errs = append(errs, fmt.Errorf("sort %q: not a field the flows can be sorted by", q.Sort))
	}
	return errors.Join(errs...)
}

// linseedParams is the query as Linseed's read parameters.
func (q *FlowQuery) linseedParams() map[string]any {
	p := map[string]any{"time_range": map[string]any{"from": q.From.UTC().Format(time.RFC3339), "to": q.To.UTC().Format(time.RFC3339)}}
	var sel []string
	either := func(a, b, v string) string {
		if strings.ContainsAny(v, "*?") {
			return fmt.Sprintf("(%s IN {%s} OR %s IN {%s})", a, strconv.Quote(v), b, strconv.Quote(v))
		}
		return fmt.Sprintf("(%s = %s OR %s = %s)", a, strconv.Quote(v), b, strconv.Quote(v))
	}
	if q.Namespace != "" {
		sel = append(sel, either("source_namespace", "dest_namespace", q.Namespace))
	}
	if q.Name != "" {
		sel = append(sel, either("source_name_aggr", "dest_name_aggr", q.Name))
	}
	for _, f := range []struct{ field, v string }{{"source_namespace", q.SourceNamespace}, {"source_name_aggr", q.SourceName},
		{"dest_namespace", q.DestNamespace}, {"dest_name_aggr", q.DestName}} {
		switch {
		case f.v == "":
		case strings.ContainsAny(f.v, "*?"):
			sel = append(sel, fmt.Sprintf("%s IN {%s}", f.field, strconv.Quote(f.v)))
		default:
			sel = append(sel, fmt.Sprintf("%s = %s", f.field, strconv.Quote(f.v)))
		}
	}
	if q.Reporter != "" {
		sel = append(sel, "reporter = "+q.Reporter)
	}
	if q.Port != 0 {
		sel = append(sel, "dest_port = "+strconv.Itoa(q.Port))
	}
	if len(sel) > 0 {
		p["selector"] = strings.Join(sel, " AND ")
	}
	if q.Action != "" {
		p["actions"] = []string{q.Action}
	}
	if q.Policy != "" {
		name := q.Policy
		if _, after, ok := strings.Cut(name, "."); ok && !strings.Contains(after, ".") {
			// tier.name as flow logs write it: match the name.
			name = after
		}
		p["policy_matches"] = []map[string]any{{"name": name}}
	}
	return p
}

// decodeQuery reads a FlowQuery body.
func decodeQuery(w http.ResponseWriter, r *http.Request) (*FlowQuery, bool) {
	var q FlowQuery
	return &q, decodeFilter(w, r, "flow", &q, q.validate)
}

// decodeFilter reads a filter's JSON body into q (unknown fields are
// errors, so a mistyped filter is not silently ignored) and validates
// it, answering 400 with what is wrong when it fails.
func decodeFilter(w http.ResponseWriter, r *http.Request, what string, q any, validate func(time.Time) error) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(q); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "the query is not valid JSON of the "+what+" filter: "+err.Error())
		return false
	}
	if err := validate(time.Now()); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// FlowPage is a page of flow logs.
type FlowPage struct {
	Items     []json.RawMessage `json:"items"`
	AfterKey  map[string]any    `json:"after_key"`
	TotalHits int64             `json:"total_hits"`
}

func (s *server) flowLogs(w http.ResponseWriter, r *http.Request, _ kubeauth.User) {
	q, ok := decodeQuery(w, r)
	if !ok {
		return
	}
	p := q.linseedParams()
	p["max_page_size"] = q.PageSize
	if q.AfterKey != nil {
		p["after_key"] = q.AfterKey
	}
	if q.Sort != "" {
		p["sort"] = []map[string]any{{"field": q.Sort, "descending": q.Desc}}
	} else {
		p["sort"] = []map[string]any{{"field": "end_time", "descending": true}}
	}
	var page FlowPage
	if !s.linseed(w, r.Context(), "/flows/logs", p, &page) {
		return
	}
	if page.Items == nil {
		page.Items = []json.RawMessage{}
	}
	writeJSON(w, page)
}

// l3Flow is what the graph reads of Linseed's aggregated flows.
type l3Flow struct {
	Key struct {
		Action   string         `json:"action"`
		Reporter string         `json:"reporter"`
		Protocol string         `json:"protocol"`
		Source   graph.Endpoint `json:"source"`
		Dest     struct {
			graph.Endpoint
			Port json.Number `json:"port"`
		} `json:"destination"`
	} `json:"key"`
	LogStats struct {
		FlowLogCount int64 `json:"flow_log_count"`
	} `json:"log_stats"`
	Traffic struct {
		PacketsIn  int64 `json:"packets_in"`
		PacketsOut int64 `json:"packets_out"`
		BytesIn    int64 `json:"bytes_in"`
		BytesOut   int64 `json:"bytes_out"`
	} `json:"traffic_stats"`
}

// graphFlowLimit bounds the aggregated flows one graph is drawn from.
const graphFlowLimit = 5000

func (s *server) flowGraph(w http.ResponseWriter, r *http.Request, _ kubeauth.User) {
	q, ok := decodeQuery(w, r)
	if !ok {
		return
	}
	p := q.linseedParams()
	p["max_page_size"] = graphFlowLimit
	var res struct {
		Items []l3Flow `json:"items"`
	}
	if !s.linseed(w, r.Context(), "/flows", p, &res) {
		return
	}
	flows := make([]graph.Flow, 0, len(res.Items))
	for _, it := range res.Items {
		port, _ := it.Key.Dest.Port.Int64()
		flows = append(flows, graph.Flow{Action: it.Key.Action, Reporter: it.Key.Reporter, Proto: it.Key.Protocol,
			Source: it.Key.Source, Dest: it.Key.Dest.Endpoint, Port: port, Flows: it.LogStats.FlowLogCount,
			Packets: it.Traffic.PacketsIn + it.Traffic.PacketsOut, Bytes: it.Traffic.BytesIn + it.Traffic.BytesOut})
	}
	writeJSON(w, graph.Build(flows, q.Focus))
}

// linseed posts to Linseed, writing the error response itself when it
// fails; Linseed's own refusals are passed on as it said them.
func (s *server) linseed(w http.ResponseWriter, ctx context.Context, path string, body, out any) bool {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	err := s.cfg.Logs.Post(ctx, path, body, out)
	if err == nil {
		return true
	}
	s.linseedFailed(w, err)
	return false
}

// linseedFailed writes the answer to a failed Linseed call.
func (s *server) linseedFailed(w http.ResponseWriter, err error) {
	var le *client.Error
	if errors.As(err, &le) && le.Status < 500 {
		writeError(w, http.StatusBadRequest, "the log store refused the query: "+le.Message)
		return
	}
	s.log.Error("linseed", "err", err)
	writeError(w, http.StatusBadGateway, "the log store (Linseed) did not answer: "+err.Error())
}
