package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/logquery"
)

// TimeRange bounds the records' times (RFC 3339): From ≤ time < To.
type TimeRange struct {
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
}

// SortBy is one ordering key.
type SortBy struct {
	Field      string `json:"field"`
	Descending bool   `json:"descending,omitempty"`
}

// Params are the body of every read (Linseed's QueryParams and
// LogParams): the time range, the selector in the query language, the
// page size and the previous page's after_key, and the order.
type Params struct {
	TimeRange   *TimeRange     `json:"time_range,omitempty"`
	Timeout     string         `json:"timeout,omitempty"`
	MaxPageSize int            `json:"max_page_size,omitempty"`
	AfterKey    map[string]any `json:"after_key,omitempty"`
	Selector    string         `json:"selector,omitempty"`
	Sort        []SortBy       `json:"sort,omitempty"`

	// Flow log filters (L3 flow and flow log reads).
	Actions          []string         `json:"actions,omitempty"`
	NamespaceMatches []NamespaceMatch `json:"namespace_matches,omitempty"`
	PolicyMatches    []PolicyMatch    `json:"policy_matches,omitempty"`
	SourceTypes      []string         `json:"source_types,omitempty"`
	DestinationTypes []string         `json:"destination_types,omitempty"`

	// Type is the audit log a read is of: "kube" (Kubernetes' resources,
	// the default) or "ee" (Calico's).
	Type string `json:"type,omitempty"`

	// Aggregations (the …/aggregation endpoints).
	Aggregations map[string]json.RawMessage `json:"aggregations,omitempty"`
}

// NamespaceMatch selects flows by namespace: of the source, the
// destination or either ("src", "dst", "any").
type NamespaceMatch struct {
	Type       string   `json:"type"`
	Namespaces []string `json:"namespaces"`
}

// PolicyMatch selects flows by a policy in their enforced policies: its
// tier, name, namespace, action and whether it is staged; empty fields
// match anything. Type "knp" is a Kubernetes NetworkPolicy.
type PolicyMatch struct {
	Type      string `json:"type,omitempty"`
	Staged    bool   `json:"staged,omitempty"`
	Tier      string `json:"tier,omitempty"`
	Action    string `json:"action,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// List is a page of records.
type List struct {
	Items     []json.RawMessage `json:"items"`
	AfterKey  map[string]any    `json:"after_key"`
	TotalHits int64             `json:"total_hits"`
}

// BulkResponse says what a bulk write did: each line is a record, stored
// or failed; a failed line's error names its line number.
type BulkResponse struct {
	Total     int         `json:"total"`
	Succeeded int         `json:"succeeded"`
	Failed    int         `json:"failed"`
	Errors    []BulkError `json:"errors,omitempty"`
	// Duplicates are the records already stored (a retry), counted as
	// succeeded.
	Duplicates int `json:"duplicates,omitempty"`
}

// BulkError is one line that was not stored.
type BulkError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ParamError is a request that cannot be answered as asked.
type ParamError struct{ Msg string }

func (e *ParamError) Error() string { return e.Msg }

func badf(format string, args ...any) error { return &ParamError{Msg: fmt.Sprintf(format, args...)} }

// query turns parameters into a store query for one type and cluster.
func (p *Params) query(t *logtype.Type, cluster string) (store.Query, error) {
	q := store.Query{Cluster: cluster, Limit: p.MaxPageSize}
	if p.MaxPageSize < 0 || p.MaxPageSize > store.MaxLimit {
		return q, badf("max_page_size %d: must be between 0 and %d", p.MaxPageSize, store.MaxLimit)
	}
	if p.TimeRange != nil {
		q.From, q.To = p.TimeRange.From, p.TimeRange.To
		if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
			return q, badf("time_range: from (%s) must be before to (%s)", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
		}
	}
	var terms []logquery.Node
	if strings.TrimSpace(p.Selector) != "" {
		n, err := logquery.Parse(p.Selector)
		if err != nil {
			return q, badf("selector: %v", err)
		}
		if err := logquery.Check(p.Selector, n, t.Fields()); err != nil {
			return q, badf("selector: %v", err)
		}
		terms = append(terms, n)
	}
	flowTerms, err := p.flowTerms(t)
	if err != nil {
		return q, err
	}
	terms = append(terms, flowTerms...)
	switch len(terms) {
	case 0:
	case 1:
		q.Where = terms[0]
	default:
		q.Where = &logquery.And{Terms: terms}
	}
	for _, s := range p.Sort {
		if _, ok := t.Column(s.Field); !ok {
			return q, badf("sort: unknown field %q", s.Field)
		}
		q.Sort = append(q.Sort, store.Sort{Field: s.Field, Descending: s.Descending})
	}
	// Records are kept newest first by their time, so a trailing sort by
	// a whole-second time field, descending, is the stored order: it is
	// dropped, and the store reads the newest days first and stops at a
	// page instead of sorting the whole range. Cursors are made and read
	// after this, so they agree.
	for n := len(q.Sort); n > 0; n-- {
		last := q.Sort[n-1]
		if c, _ := t.Column(last.Field); last.Field != t.TimePath || !last.Descending || c.Kind != logtype.Int {
			break
		}
		q.Sort = q.Sort[:n-1]
	}
	if len(p.AfterKey) > 0 {
		c, err := decodeCursor(p.AfterKey)
		if err != nil {
			return q, badf("after_key: %v", err)
		}
		q.After = c
	}
	return q, nil
}

// flowTerms are the flow filters as query terms.
func (p *Params) flowTerms(t *logtype.Type) ([]logquery.Node, error) {
	has := func(f string) bool { _, ok := t.Column(f); return ok }
	if len(p.Actions)+len(p.NamespaceMatches)+len(p.PolicyMatches)+len(p.SourceTypes)+len(p.DestinationTypes) == 0 {
		return nil, nil
	}
	if !has("action") || !has("policies.enforced_policies") {
		return nil, badf("actions, namespace_matches, policy_matches, source_types and destination_types apply to flows only")
	}
	var out []logquery.Node
	in := func(key string, vals []string) {
		out = append(out, &logquery.Term{Key: key, Op: logquery.In, Values: vals})
	}
	if len(p.Actions) > 0 {
		for _, a := range p.Actions {
			if a != "allow" && a != "deny" && a != "pass" {
				return nil, badf("actions: %q is not allow, deny or pass", a)
			}
		}
		in("action", p.Actions)
	}
	if len(p.SourceTypes) > 0 {
		in("source_type", p.SourceTypes)
	}
	if len(p.DestinationTypes) > 0 {
		in("dest_type", p.DestinationTypes)
	}
	for i, m := range p.NamespaceMatches {
		if len(m.Namespaces) == 0 {
			return nil, badf("namespace_matches[%d]: no namespaces", i)
		}
		src := &logquery.Term{Key: "source_namespace", Op: logquery.In, Values: m.Namespaces}
		dst := &logquery.Term{Key: "dest_namespace", Op: logquery.In, Values: m.Namespaces}
		switch m.Type {
		case "src":
			out = append(out, src)
		case "dst":
			out = append(out, dst)
		case "", "any":
			out = append(out, &logquery.Or{Terms: []logquery.Node{src, dst}})
		default:
			return nil, badf("namespace_matches[%d]: type %q is not src, dst or any", i, m.Type)
		}
	}
	if len(p.PolicyMatches) > 0 {
		var ors []logquery.Node
		for _, m := range p.PolicyMatches {
			ors = append(ors, &logquery.Term{Key: "policies.enforced_policies", Op: logquery.In, Values: []string{m.pattern()}})
		}
		if len(ors) == 1 {
			out = append(out, ors[0])
		} else {
			out = append(out, &logquery.Or{Terms: ors})
		}
	}
	return out, nil
}

// pattern is a policy string pattern, "<index>|<tier>|<name>|<action>|<rule>",
// with wildcards where the match leaves a field open.
func (m PolicyMatch) pattern() string {
	tier := or(m.Tier, "*")
	name := "*"
	if m.Name != "" {
		n := m.Name
		switch {
		case m.Type == "knp":
			n = "knp.default." + n
		case tier != "*":
			n = tier + "." + n
		default:
			n = "*." + n
		}
		if m.Staged {
			n = "staged:" + n
		}
		if m.Namespace != "" {
			n = m.Namespace + "/" + n
		}
		name = n
	} else if m.Namespace != "" {
		name = m.Namespace + "/*"
	}
	return "*|" + tier + "|" + name + "|" + or(m.Action, "*") + "|*"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// The after_key is {"cursor": "<base64 of the store's cursor>"}.
func encodeCursor(c *store.Cursor) map[string]any {
	if c == nil {
		return nil
	}
	b, _ := json.Marshal(c)
	return map[string]any{"cursor": base64.RawURLEncoding.EncodeToString(b)}
}

func decodeCursor(m map[string]any) (*store.Cursor, error) {
	s, ok := m["cursor"].(string)
	if !ok {
		return nil, fmt.Errorf("not one this server gave (pass back the after_key of the previous page)")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not one this server gave: %v", err)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var c store.Cursor
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("not one this server gave: %v", err)
	}
	return &c, nil
}
