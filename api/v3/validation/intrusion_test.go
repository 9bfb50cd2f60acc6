package validation_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
)

func feed(spec v3.GlobalThreatFeedSpec) *v3.GlobalThreatFeed {
	return &v3.GlobalThreatFeed{ObjectMeta: meta("bad-ips"), Spec: spec}
}

func pull(url string) *v3.Pull {
	return &v3.Pull{Period: &metav1.Duration{Duration: time.Hour}, HTTP: &v3.HTTPPull{URL: url}}
}

func alert(spec v3.GlobalAlertSpec) *v3.GlobalAlert {
	return &v3.GlobalAlert{ObjectMeta: meta("denied-by-ns"), Spec: spec}
}

// TestThreatFeeds: a pulled IPSet feed kept in a network set, a pushed
// domain feed, and each way a feed can be wrong, by field.
func TestThreatFeeds(t *testing.T) {
	fieldNum := uint32(2)
	checkValid(t, "a pulled IP feed kept in a GlobalNetworkSet", feed(v3.GlobalThreatFeedSpec{Content: "IPSet", Mode: "Enabled",
		GlobalNetworkSet: &v3.GlobalNetworkSetSync{Labels: map[string]string{"feed": "bad-ips"}},
		Pull: &v3.Pull{HTTP: &v3.HTTPPull{URL: "https://feeds.example.test/ips.txt",
			Format:  v3.ThreatFeedFormat{CSV: &v3.ThreatFeedFormatCSV{FieldNum: &fieldNum, ColumnDelimiter: ";"}},
			Headers: []v3.HTTPHeader{{Name: "Authorization", ValueFrom: &v3.HTTPHeaderSource{SecretKeyRef: &v3.KeyRef{Name: "globalthreatfeed-bad-ips-auth", Key: "token"}}}}}}}))
	checkValid(t, "a pushed domain feed", feed(v3.GlobalThreatFeedSpec{Content: "DomainNameSet"}))

	sp := "spec"
	cases := []invalidCase{
		{"unknown content", feed(v3.GlobalThreatFeedSpec{Content: "URLs"}), sp + ".content", field.ErrorTypeNotSupported, "IPSet"},
		{"a domain feed in a network set", feed(v3.GlobalThreatFeedSpec{Content: "DomainNameSet", Pull: pull("http://x.test/d"),
			GlobalNetworkSet: &v3.GlobalNetworkSetSync{}}), sp + ".globalNetworkSet", field.ErrorTypeForbidden, "only an IPSet feed"},
		{"a pushed feed in a network set", feed(v3.GlobalThreatFeedSpec{GlobalNetworkSet: &v3.GlobalNetworkSetSync{}}),
			sp + ".globalNetworkSet", field.ErrorTypeForbidden, "needs spec.pull"},
		{"a bad label", feed(v3.GlobalThreatFeedSpec{Pull: pull("http://x.test/i"), GlobalNetworkSet: &v3.GlobalNetworkSetSync{Labels: map[string]string{"a b": "c"}}}),
			sp + ".globalNetworkSet.labels", field.ErrorTypeInvalid, "a b"},
		{"pulled too often", feed(v3.GlobalThreatFeedSpec{Pull: &v3.Pull{Period: &metav1.Duration{Duration: time.Minute}, HTTP: &v3.HTTPPull{URL: "http://x.test/i"}}}),
			sp + ".pull.period", field.ErrorTypeInvalid, "at least 5m"},
		{"no http", feed(v3.GlobalThreatFeedSpec{Pull: &v3.Pull{}}), sp + ".pull.http", field.ErrorTypeRequired, "where to pull"},
		{"not a URL", feed(v3.GlobalThreatFeedSpec{Pull: pull("ftp://x.test/i")}), sp + ".pull.http.url", field.ErrorTypeInvalid, "http:// or https://"},
		{"two formats", feed(v3.GlobalThreatFeedSpec{Pull: &v3.Pull{HTTP: &v3.HTTPPull{URL: "http://x.test/i", Format: v3.ThreatFeedFormat{
			NewlineDelimited: &v3.ThreatFeedFormatNewlineDelimited{}, JSON: &v3.ThreatFeedFormatJSON{Path: "$.ips"}}}}}),
			sp + ".pull.http.format", field.ErrorTypeInvalid, "give one of"},
		{"a JSONPath filter", feed(v3.GlobalThreatFeedSpec{Pull: &v3.Pull{HTTP: &v3.HTTPPull{URL: "http://x.test/i", Format: v3.ThreatFeedFormat{
			JSON: &v3.ThreatFeedFormatJSON{Path: "$.ips[?(@.bad)]"}}}}}), sp + ".pull.http.format.json.path", field.ErrorTypeInvalid, "filters"},
		{"a CSV without its column", feed(v3.GlobalThreatFeedSpec{Pull: &v3.Pull{HTTP: &v3.HTTPPull{URL: "http://x.test/i", Format: v3.ThreatFeedFormat{
			CSV: &v3.ThreatFeedFormatCSV{}}}}}), sp + ".pull.http.format.csv", field.ErrorTypeRequired, "fieldNum or fieldName"},
		{"a CSV column by name without a header", feed(v3.GlobalThreatFeedSpec{Pull: &v3.Pull{HTTP: &v3.HTTPPull{URL: "http://x.test/i", Format: v3.ThreatFeedFormat{
			CSV: &v3.ThreatFeedFormatCSV{FieldName: "ip"}}}}}), sp + ".pull.http.format.csv.fieldName", field.ErrorTypeInvalid, "header: true"},
		{"a long delimiter", feed(v3.GlobalThreatFeedSpec{Pull: &v3.Pull{HTTP: &v3.HTTPPull{URL: "http://x.test/i", Format: v3.ThreatFeedFormat{
			CSV: &v3.ThreatFeedFormatCSV{FieldNum: &fieldNum, ColumnDelimiter: "::"}}}}}), sp + ".pull.http.format.csv.columnDelimiter", field.ErrorTypeInvalid, "one character"},
		{"a header's secret of another feed", feed(v3.GlobalThreatFeedSpec{Pull: &v3.Pull{HTTP: &v3.HTTPPull{URL: "http://x.test/i",
			Headers: []v3.HTTPHeader{{Name: "X-Key", ValueFrom: &v3.HTTPHeaderSource{SecretKeyRef: &v3.KeyRef{Name: "other", Key: "k"}}}}}}}),
			sp + ".pull.http.headers[0].valueFrom.secretKeyRef.name", field.ErrorTypeInvalid, `"globalthreatfeed-bad-ips-"`},
		{"a header with both", feed(v3.GlobalThreatFeedSpec{Pull: &v3.Pull{HTTP: &v3.HTTPPull{URL: "http://x.test/i",
			Headers: []v3.HTTPHeader{{Name: "X-Key", Value: "v", ValueFrom: &v3.HTTPHeaderSource{}}}}}}),
			sp + ".pull.http.headers[0]", field.ErrorTypeInvalid, "not both"},
		{"a bad header name", feed(v3.GlobalThreatFeedSpec{Pull: &v3.Pull{HTTP: &v3.HTTPPull{URL: "http://x.test/i",
			Headers: []v3.HTTPHeader{{Name: "X Key", Value: "v"}}}}}), sp + ".pull.http.headers[0].name", field.ErrorTypeInvalid, "HTTP header name"},
	}
	checkInvalid(t, cases)
}

// TestGlobalAlerts: rules as Calico Enterprise's documentation writes
// them are accepted; a query that does not parse or names an unknown
// field is refused with its column; the metric's fields go together.
func TestGlobalAlerts(t *testing.T) {
	base := v3.GlobalAlertSpec{Description: "Denied flows from ${source_namespace}: ${count}", Severity: 60, DataSet: "flows",
		Query: `action = deny AND source_namespace IN ${watched}`, AggregateBy: []string{"source_namespace"},
		Metric: "count", Condition: "gt", Threshold: 10, Substitutions: []v3.GlobalAlertSubstitution{{Name: "watched", Values: []string{"dev", "prod-*"}}},
		Period: &metav1.Duration{Duration: time.Minute}, Lookback: &metav1.Duration{Duration: 5 * time.Minute}}
	checkValid(t, "denied flows by namespace", alert(base))
	checkValid(t, "the documentation's sample", alert(v3.GlobalAlertSpec{Summary: "Sample", Description: "Sample ${source_namespace}/${source_name_aggr}",
		Severity: 100, DataSet: "flows", Query: "action=allow", AggregateBy: []string{"source_namespace", "source_name_aggr"},
		Field: "num_flows", Metric: "sum", Condition: "gt", Threshold: 0}))
	checkValid(t, "any DNS hit", alert(v3.GlobalAlertSpec{Description: "a lookup of a mining pool", Severity: 80, DataSet: "dns",
		Query: `qname IN {"*.pool.example"}`}))
	checkValid(t, "a template", &v3.GlobalAlertTemplate{ObjectMeta: meta("policy-deleted"), Spec: v3.GlobalAlertSpec{Description: "a policy was deleted",
		Severity: 50, DataSet: "audit", Query: `verb = delete AND objectRef.resource IN {"globalnetworkpolicies", "networkpolicies"}`}})
	braced := base
	braced.Query = `action = deny AND source_namespace IN {${watched}}`
	checkValid(t, "a substitution in braces", alert(braced))

	with := func(f func(*v3.GlobalAlertSpec)) *v3.GlobalAlert {
		s := base
		f(&s)
		return alert(s)
	}
	sp := "spec"
	checkInvalid(t, []invalidCase{
		{"a query that does not parse", with(func(s *v3.GlobalAlertSpec) { s.Query = "action = deny AND (" }), sp + ".query", field.ErrorTypeInvalid, "column 20"},
		{"an unknown field", with(func(s *v3.GlobalAlertSpec) { s.Query = "actoin = deny" }), sp + ".query", field.ErrorTypeInvalid, `column 1: unknown key "actoin"`},
		{"a missing substitution", with(func(s *v3.GlobalAlertSpec) { s.Substitutions = nil }), sp + ".query", field.ErrorTypeInvalid, "${watched} has no substitution"},
		{"a severity out of range", with(func(s *v3.GlobalAlertSpec) { s.Severity = 101 }), sp + ".severity", field.ErrorTypeInvalid, "1-100"},
		{"no description", with(func(s *v3.GlobalAlertSpec) { s.Description = "" }), sp + ".description", field.ErrorTypeRequired, ""},
		{"a short period", with(func(s *v3.GlobalAlertSpec) { s.Period = &metav1.Duration{Duration: 30 * time.Second} }), sp + ".period", field.ErrorTypeInvalid, "at least 1m"},
		{"an unknown data set", with(func(s *v3.GlobalAlertSpec) { s.DataSet = "waf" }), sp + ".dataSet", field.ErrorTypeNotSupported, ""},
		{"an unknown aggregateBy", with(func(s *v3.GlobalAlertSpec) { s.AggregateBy = []string{"source_ns"} }), sp + ".aggregateBy[0]", field.ErrorTypeInvalid, "not a field of flows logs"},
		{"sum of a text field", with(func(s *v3.GlobalAlertSpec) { s.Metric, s.Field = "sum", "source_name" }), sp + ".field", field.ErrorTypeInvalid, "numeric field"},
		{"avg without a field", with(func(s *v3.GlobalAlertSpec) { s.Metric = "avg" }), sp + ".field", field.ErrorTypeRequired, ""},
		{"a metric without a condition", with(func(s *v3.GlobalAlertSpec) { s.Condition = "" }), sp + ".condition", field.ErrorTypeRequired, ""},
		{"a condition without a metric", with(func(s *v3.GlobalAlertSpec) { s.Metric = "" }), sp + ".metric", field.ErrorTypeRequired, ""},
		{"a template field not aggregated", with(func(s *v3.GlobalAlertSpec) { s.Summary = "from ${dest_namespace}" }), sp + ".summary", field.ErrorTypeInvalid, "${dest_namespace} is neither"},
	})
}

func TestAlertExceptionsAndWebhooks(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	end := metav1.NewTime(start.Add(-time.Hour))
	checkValid(t, "an exception", &v3.AlertException{ObjectMeta: meta("dev-scans"), Spec: v3.AlertExceptionSpec{Description: "dev scans itself",
		Selector: `type = "gtf_suspicious_flow" AND source_namespace = "dev"`, StartTime: start}})
	checkValid(t, "a Slack webhook", &v3.SecurityEventWebhook{ObjectMeta: meta("slack"), Spec: v3.SecurityEventWebhookSpec{Consumer: "Slack", State: "Enabled",
		Query: "severity > 50", Config: []v3.SecurityEventWebhookConfigVar{{Name: "url", ValueFrom: &v3.HTTPHeaderSource{SecretKeyRef: &v3.KeyRef{Name: "slack", Key: "url"}}}}}})
	checkInvalid(t, []invalidCase{
		{"an exception that ends before it starts", &v3.AlertException{ObjectMeta: meta("x"), Spec: v3.AlertExceptionSpec{Description: "d",
			Selector: "severity > 1", StartTime: start, EndTime: &end}}, "spec.endTime", field.ErrorTypeInvalid, "after startTime"},
		{"an exception's bad selector", &v3.AlertException{ObjectMeta: meta("x"), Spec: v3.AlertExceptionSpec{Description: "d",
			Selector: "sevrity > 1", StartTime: start}}, "spec.selector", field.ErrorTypeInvalid, `unknown key "sevrity"`},
		{"a webhook without its url", &v3.SecurityEventWebhook{ObjectMeta: meta("g"), Spec: v3.SecurityEventWebhookSpec{Consumer: "Generic", State: "Enabled"}},
			"spec.config", field.ErrorTypeRequired, `needs "url"`},
		{"a webhook's bad url", &v3.SecurityEventWebhook{ObjectMeta: meta("g"), Spec: v3.SecurityEventWebhookSpec{Consumer: "Generic", State: "Enabled",
			Config: []v3.SecurityEventWebhookConfigVar{{Name: "url", Value: "not a url"}}}}, "spec.config[0].value", field.ErrorTypeInvalid, "http://"},
		{"a webhook's unknown state", &v3.SecurityEventWebhook{ObjectMeta: meta("g"), Spec: v3.SecurityEventWebhookSpec{Consumer: "Generic", State: "On",
			Config: []v3.SecurityEventWebhookConfigVar{{Name: "url", Value: "http://r.test/"}}}}, "spec.state", field.ErrorTypeNotSupported, ""},
	})
}
