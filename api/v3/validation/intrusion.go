package validation

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/logquery"
)

// The intrusion-detection kinds: queries are checked as Linseed checks
// them (internal/logquery against the log type's fields), so a rule that
// is accepted also runs; an error says where in the query it is.

// logTypes are Linseed's log types, for the fields queries may use.
var logTypes = logtype.All()

// dataSetLogType is the log type a GlobalAlert's dataSet reads.
var dataSetLogType = map[string]string{"flows": logtype.Flows, "dns": logtype.DNS, "audit": logtype.AuditEE}

const (
	minPullPeriod  = 5 * time.Minute
	minAlertPeriod = time.Minute
	maxQueryLen    = 4096
)

var (
	// headerName is an HTTP header name (RFC 9110 token).
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
	// substName is a substitution's name as ${name} writes it.
	substName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	// templateVar is a ${...} in a query or template; bracedVar one
	// written inside an IN list's braces.
	templateVar = regexp.MustCompile(`\$\{([^}]*)\}`)
	bracedVar   = regexp.MustCompile(`\{\s*\$\{([^}]*)\}\s*\}`)
)

func validateGlobalThreatFeed(f *v3.GlobalThreatFeed) field.ErrorList {
	errs := validateMeta(&f.ObjectMeta, false, subdomainName)
	s, p := f.Spec, specPath
	errs = append(errs, oneOf(p.Child("content"), s.Content, true, v3.ThreatFeedContentIPSet, v3.ThreatFeedContentDomainNameSet)...)
	errs = append(errs, oneOf(p.Child("mode"), s.Mode, true, v3.ThreatFeedModeEnabled, v3.ThreatFeedModeDisabled)...)
	errs = append(errs, oneOf(p.Child("feedType"), s.FeedType, true, "Builtin", "Custom")...)
	if len(s.Description) > 256 {
		errs = append(errs, field.TooLong(p.Child("description"), "", 256))
	}
	if g := s.GlobalNetworkSet; g != nil {
		gp := p.Child("globalNetworkSet")
		switch {
		case s.Content == v3.ThreatFeedContentDomainNameSet:
			errs = append(errs, field.Forbidden(gp, "only an IPSet feed can be kept in a GlobalNetworkSet (a policy cannot match domain names from a network set's nets)"))
		case s.Pull == nil:
			errs = append(errs, field.Forbidden(gp, "needs spec.pull: a pushed feed is not kept in a GlobalNetworkSet"))
		}
		errs = append(errs, metav1validation.ValidateLabels(g.Labels, gp.Child("labels"))...)
		if len("threatfeed."+f.Name) > 253 {
			errs = append(errs, field.Invalid(metaPath.Child("name"), f.Name, "too long: the GlobalNetworkSet threatfeed.<name> must be at most 253 characters"))
		}
	}
	if pl := s.Pull; pl != nil {
		pp := p.Child("pull")
		if pl.Period != nil && pl.Period.Duration < minPullPeriod {
			errs = append(errs, field.Invalid(pp.Child("period"), pl.Period.Duration.String(), "must be at least 5m"))
		}
		if pl.HTTP == nil {
			errs = append(errs, field.Required(pp.Child("http"), "where to pull the feed from"))
		} else {
			errs = append(errs, validateHTTPPull(pp.Child("http"), f.Name, pl.HTTP)...)
		}
	}
	return errs
}

func validateHTTPPull(p *field.Path, feed string, h *v3.HTTPPull) field.ErrorList {
	var errs field.ErrorList
	if h.URL == "" {
		errs = append(errs, field.Required(p.Child("url"), "the feed's http:// or https:// URL"))
	} else if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, field.Invalid(p.Child("url"), h.URL, "must be an absolute http:// or https:// URL"))
	}
	fp := p.Child("format")
	set := 0
	for _, b := range []bool{h.Format.NewlineDelimited != nil, h.Format.JSON != nil, h.Format.CSV != nil} {
		if b {
			set++
		}
	}
	if set > 1 {
		errs = append(errs, field.Invalid(fp, "", "give one of newlineDelimited, json and csv"))
	}
	if j := h.Format.JSON; j != nil {
		switch {
		case j.Path == "":
			errs = append(errs, field.Required(fp.Child("json", "path"), `a JSONPath to the entries, e.g. "$.ips[*]" or "{.ips[*]}"`))
		case strings.Contains(j.Path, "?("):
			errs = append(errs, field.Invalid(fp.Child("json", "path"), j.Path, "filters (?(...)) are not supported"))
		}
	}
	if c := h.Format.CSV; c != nil {
		cp := fp.Child("csv")
		switch {
		case c.FieldNum == nil && c.FieldName == "":
			errs = append(errs, field.Required(cp, "fieldNum or fieldName: the column the entries are in"))
		case c.FieldNum != nil && c.FieldName != "":
			errs = append(errs, field.Invalid(cp, "", "give fieldNum or fieldName, not both"))
		case c.FieldName != "" && !c.Header:
			errs = append(errs, field.Invalid(cp.Child("fieldName"), c.FieldName, "needs header: true (the column is named by the first record)"))
		}
		for _, d := range []struct{ name, v string }{{"columnDelimiter", c.ColumnDelimiter}, {"commentDelimiter", c.CommentDelimiter}} {
			if d.v != "" && (len([]rune(d.v)) != 1 || d.v == "\n" || d.v == "\r" || d.v == `"`) {
				errs = append(errs, field.Invalid(cp.Child(d.name), d.v, "must be one character, not a quote or a line break"))
			}
		}
		if c.ColumnDelimiter != "" && c.ColumnDelimiter == c.CommentDelimiter {
			errs = append(errs, field.Invalid(cp.Child("commentDelimiter"), c.CommentDelimiter, "must differ from columnDelimiter"))
		}
		if c.RecordSize < 0 {
			errs = append(errs, field.Invalid(cp.Child("recordSize"), c.RecordSize, "must not be negative"))
		}
	}
	seen := map[string]bool{}
	for i, hd := range h.Headers {
		hp := p.Child("headers").Index(i)
		if !headerName.MatchString(hd.Name) {
			errs = append(errs, field.Invalid(hp.Child("name"), hd.Name, "must be an HTTP header name"))
		}
		if seen[strings.ToLower(hd.Name)] {
			errs = append(errs, field.Duplicate(hp.Child("name"), hd.Name))
		}
		seen[strings.ToLower(hd.Name)] = true
		errs = append(errs, validateValueOrRef(hp, hd.Value, hd.ValueFrom, "globalthreatfeed-"+feed+"-")...)
	}
	return errs
}

// validateValueOrRef checks a value given inline or from a ConfigMap or
// Secret; prefix, if set, is what the reference's name must start with
// (the controller may read only those).
func validateValueOrRef(p *field.Path, value string, from *v3.HTTPHeaderSource, prefix string) field.ErrorList {
	var errs field.ErrorList
	switch {
	case value != "" && from != nil:
		return field.ErrorList{field.Invalid(p, "", "give value or valueFrom, not both")}
	case from == nil:
		return nil
	}
	fp := p.Child("valueFrom")
	if (from.ConfigMapKeyRef == nil) == (from.SecretKeyRef == nil) {
		return field.ErrorList{field.Invalid(fp, "", "give one of configMapKeyRef and secretKeyRef")}
	}
	ref, rp := from.ConfigMapKeyRef, fp.Child("configMapKeyRef")
	if ref == nil {
		ref, rp = from.SecretKeyRef, fp.Child("secretKeyRef")
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(rp.Child("name"), ""))
	} else if prefix != "" && !strings.HasPrefix(ref.Name, prefix) {
		errs = append(errs, field.Invalid(rp.Child("name"), ref.Name,
			fmt.Sprintf("must start with %q: the intrusion-detection controller reads only those, in its own namespace", prefix)))
	}
	if ref.Key == "" {
		errs = append(errs, field.Required(rp.Child("key"), ""))
	}
	return errs
}

func validateGlobalAlert(a *v3.GlobalAlert) field.ErrorList {
	return append(validateMeta(&a.ObjectMeta, false, subdomainName), validateAlertSpec(a.Spec)...)
}

func validateGlobalAlertTemplate(a *v3.GlobalAlertTemplate) field.ErrorList {
	return append(validateMeta(&a.ObjectMeta, false, subdomainName), validateAlertSpec(a.Spec)...)
}

func validateAlertSpec(s v3.GlobalAlertSpec) field.ErrorList {
	p := specPath
	var errs field.ErrorList
	errs = append(errs, oneOf(p.Child("type"), s.Type, true, "RuleBased")...)
	if s.Description == "" {
		errs = append(errs, field.Required(p.Child("description"), "what each event says, with ${field} for an aggregateBy field or the metric"))
	}
	if s.Severity < 1 || s.Severity > 100 {
		errs = append(errs, field.Invalid(p.Child("severity"), s.Severity, "must be 1-100"))
	}
	if s.Period != nil && s.Period.Duration < minAlertPeriod {
		errs = append(errs, field.Invalid(p.Child("period"), s.Period.Duration.String(), "must be at least 1m"))
	}
	if s.Lookback != nil && s.Lookback.Duration <= 0 {
		errs = append(errs, field.Invalid(p.Child("lookback"), s.Lookback.Duration.String(), "must be positive"))
	}
	lt, ok := dataSetLogType[s.DataSet]
	if !ok {
		return append(errs, field.NotSupported(p.Child("dataSet"), s.DataSet, []string{"flows", "dns", "audit"}))
	}
	fields := logTypes[lt].Fields()
	known := func(k string) bool { _, ok := fields[k]; return ok }

	// Substitutions, then the query with them in place.
	subs := map[string][]string{}
	for i, sub := range s.Substitutions {
		sp := p.Child("substitutions").Index(i)
		if !substName.MatchString(sub.Name) {
			errs = append(errs, field.Invalid(sp.Child("name"), sub.Name, "letters, digits and _, not starting with a digit"))
		}
		if _, dup := subs[sub.Name]; dup {
			errs = append(errs, field.Duplicate(sp.Child("name"), sub.Name))
		}
		if len(sub.Values) == 0 {
			errs = append(errs, field.Required(sp.Child("values"), "at least one value"))
		}
		subs[sub.Name] = sub.Values
	}
	if s.Query != "" {
		q, err := SubstituteQuery(s.Query, subs)
		switch {
		case len(s.Query) > maxQueryLen:
			errs = append(errs, field.TooLong(p.Child("query"), "", maxQueryLen))
		case err != nil:
			errs = append(errs, field.Invalid(p.Child("query"), s.Query, err.Error()))
		default:
			if err := checkQuery(q, fields); err != nil {
				errs = append(errs, field.Invalid(p.Child("query"), s.Query, err.Error()))
			}
		}
	}
	for i, f := range s.AggregateBy {
		if !known(f) {
			errs = append(errs, field.Invalid(p.Child("aggregateBy").Index(i), f, fmt.Sprintf("not a field of %s logs", s.DataSet)))
		}
	}
	// Metric, field, condition and threshold: all or none (none fires on
	// any match); count needs no field, the others a numeric one.
	mp := p.Child("metric")
	switch {
	case s.Metric == "" && (s.Field != "" || s.Condition != ""):
		errs = append(errs, field.Required(mp, "field and condition need a metric (count, min, max, sum or avg)"))
	case s.Metric == "count" && s.Field != "":
		errs = append(errs, field.Invalid(p.Child("field"), s.Field, "count counts records: leave field out"))
	case s.Metric != "" && s.Metric != "count":
		if s.Field == "" {
			errs = append(errs, field.Required(p.Child("field"), "the numeric field "+s.Metric+" is taken over"))
		} else if k, ok := fields[s.Field]; !ok || k != logquery.Number {
			errs = append(errs, field.Invalid(p.Child("field"), s.Field, fmt.Sprintf("must be a numeric field of %s logs", s.DataSet)))
		}
	}
	if s.Metric != "" && s.Condition == "" {
		errs = append(errs, field.Required(p.Child("condition"), "how the metric compares with threshold: eq, not_eq, lt, lte, gt or gte"))
	}
	// ${...} in the description and summary name an aggregateBy field or
	// the metric.
	vars := append(slices.Clone(s.AggregateBy), s.Metric)
	for _, t := range []struct {
		name, v string
	}{{"description", s.Description}, {"summary", s.Summary}} {
		for _, m := range templateVar.FindAllStringSubmatch(t.v, -1) {
			if !slices.Contains(vars, m[1]) || m[1] == "" {
				errs = append(errs, field.Invalid(p.Child(t.name), t.v,
					fmt.Sprintf("${%s} is neither an aggregateBy field nor the metric (%s)", m[1], strings.Join(slices.DeleteFunc(vars, func(s string) bool { return s == "" }), ", "))))
				break
			}
		}
	}
	return errs
}

// SubstituteQuery puts each ${name} of a GlobalAlert's query as an IN
// list of its substitution's values: `source_namespace IN ${ns}` and
// `source_namespace IN {${ns}}` both become
// `source_namespace IN {"a", "b"}`.
func SubstituteQuery(q string, subs map[string][]string) (string, error) {
	var missing string
	q = bracedVar.ReplaceAllString(q, "$${$1}")
	out := templateVar.ReplaceAllStringFunc(q, func(m string) string {
		name := m[2 : len(m)-1]
		vals, ok := subs[name]
		if !ok {
			if missing == "" {
				missing = name
			}
			return m
		}
		quoted := make([]string, len(vals))
		for i, v := range vals {
			quoted[i] = fmt.Sprintf("%q", v)
		}
		return "{" + strings.Join(quoted, ", ") + "}"
	})
	if missing != "" {
		return "", fmt.Errorf("${%s} has no substitution: add it to substitutions", missing)
	}
	return out, nil
}

// checkQuery parses a query and checks its keys and values.
func checkQuery(q string, fields logquery.Fields) error {
	n, err := logquery.Parse(q)
	if err != nil {
		return err
	}
	return logquery.Check(q, n, fields)
}

func validateAlertException(e *v3.AlertException) field.ErrorList {
	errs := validateMeta(&e.ObjectMeta, false, subdomainName)
	s, p := e.Spec, specPath
	if s.Description == "" {
		errs = append(errs, field.Required(p.Child("description"), "why the events are suppressed"))
	}
	if s.Selector == "" {
		errs = append(errs, field.Required(p.Child("selector"), `the events to suppress, e.g. type = "gtf_suspicious_flow" AND source_namespace = "dev"`))
	} else if err := checkQuery(s.Selector, logTypes[logtype.Events].Fields()); err != nil {
		errs = append(errs, field.Invalid(p.Child("selector"), s.Selector, err.Error()))
	}
	if s.StartTime.IsZero() {
		errs = append(errs, field.Required(p.Child("startTime"), "when suppression starts (RFC 3339)"))
	}
	if s.EndTime != nil && !s.EndTime.After(s.StartTime.Time) {
		errs = append(errs, field.Invalid(p.Child("endTime"), s.EndTime.Format(time.RFC3339), "must be after startTime"))
	}
	return errs
}

// webhookURLKeys are the settings a consumer needs.
var webhookRequired = map[string][]string{"Generic": {"url"}, "Slack": {"url"}, "Alertmanager": {"url"}}

func validateSecurityEventWebhook(w *v3.SecurityEventWebhook) field.ErrorList {
	errs := validateMeta(&w.ObjectMeta, false, subdomainName)
	s, p := w.Spec, specPath
	errs = append(errs, oneOf(p.Child("consumer"), s.Consumer, false, "Generic", "Slack", "Alertmanager")...)
	errs = append(errs, oneOf(p.Child("state"), s.State, false, "Enabled", "Disabled", "Debug")...)
	if s.Query != "" {
		if err := checkQuery(s.Query, logTypes[logtype.Events].Fields()); err != nil {
			errs = append(errs, field.Invalid(p.Child("query"), s.Query, err.Error()))
		}
	}
	have := map[string]bool{}
	for i, c := range s.Config {
		cp := p.Child("config").Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		}
		if have[c.Name] {
			errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
		}
		have[c.Name] = true
		if c.Value == "" && c.ValueFrom == nil {
			errs = append(errs, field.Required(cp, "value or valueFrom"))
		}
		errs = append(errs, validateValueOrRef(cp, c.Value, c.ValueFrom, "")...)
		if c.Name == "url" && c.Value != "" {
			if u, err := url.Parse(c.Value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, field.Invalid(cp.Child("value"), c.Value, "must be an absolute http:// or https:// URL"))
			}
		}
	}
	for _, k := range webhookRequired[s.Consumer] {
		if !have[k] {
			errs = append(errs, field.Required(p.Child("config"), fmt.Sprintf("a %s consumer needs %q", s.Consumer, k)))
		}
	}
	return errs
}
