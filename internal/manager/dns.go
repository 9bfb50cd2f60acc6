package manager

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/calicong/calico/internal/kubeauth"
)

// DNSQuery is the console's DNS log filter: a time range, the client's
// namespace and workload, the name asked (with * wildcards) and the
// result. Empty fields match anything.
type DNSQuery struct {
	From      time.Time      `json:"from"`
	To        time.Time      `json:"to"`
	Namespace string         `json:"namespace,omitempty"`
	Name      string         `json:"name,omitempty"`
	QName     string         `json:"qname,omitempty"`
	RCode     string         `json:"rcode,omitempty"`
	PageSize  int            `json:"page_size,omitempty"`
	AfterKey  map[string]any `json:"after_key,omitempty"`
}

var rcodePattern = regexp.MustCompile(`^[A-Z]{2,12}$`)

// validate fills defaults and says what is wrong, by field.
func (q *DNSQuery) validate(now time.Time) error {
	fq := FlowQuery{From: q.From, To: q.To, Namespace: q.Namespace, Name: q.Name, PageSize: q.PageSize}
	var errs []error
	if err := fq.validate(now); err != nil {
		errs = append(errs, err)
	}
	q.From, q.To, q.PageSize = fq.From, fq.To, fq.PageSize
	if q.QName != "" && !namePattern.MatchString(q.QName) {
		errs = append(errs, fmt.Errorf("qname %q: letters, digits, '-', '_', '.' and the wildcards * and ? only", q.QName))
	}
	if q.RCode != "" && !rcodePattern.MatchString(q.RCode) {
		errs = append(errs, fmt.Errorf("rcode %q: a DNS result such as NOERROR, NXDOMAIN or SERVFAIL", q.RCode))
	}
	return errors.Join(errs...)
}

// linseedParams is the query as Linseed's read parameters for /dns/logs.
func (q *DNSQuery) linseedParams() map[string]any {
	p := map[string]any{"time_range": map[string]any{"from": q.From.UTC().Format(time.RFC3339), "to": q.To.UTC().Format(time.RFC3339)},
		"max_page_size": q.PageSize, "sort": []map[string]any{{"field": "end_time", "descending": true}}}
	var sel []string
	for _, f := range []struct{ field, v string }{{"client_namespace", q.Namespace}, {"client_name_aggr", q.Name}, {"qname", q.QName}, {"rcode", q.RCode}} {
		switch {
		case f.v == "":
		case strings.ContainsAny(f.v, "*?"):
			sel = append(sel, fmt.Sprintf("%s IN {%s}", f.field, strconv.Quote(f.v)))
		default:
			sel = append(sel, fmt.Sprintf("%s = %s", f.field, strconv.Quote(f.v)))
		}
	}
	if len(sel) > 0 {
		p["selector"] = strings.Join(sel, " AND ")
	}
	if q.AfterKey != nil {
		p["after_key"] = q.AfterKey
	}
	return p
}

func (s *server) dnsLogs(w http.ResponseWriter, r *http.Request, _ kubeauth.User) {
	var q DNSQuery
	if !decodeFilter(w, r, "DNS", &q, q.validate) {
		return
	}
	var page FlowPage
	if !s.linseed(w, r.Context(), "/dns/logs", q.linseedParams(), &page) {
		return
	}
	if page.Items == nil {
		page.Items = []json.RawMessage{}
	}
	writeJSON(w, page)
}
