package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The intrusion-detection kinds, as Calico Enterprise defines them:
// threat feeds, alert rules and their templates, exceptions, and the
// webhooks security events go to (docs/intrusion-detection.md).

// GlobalThreatFeed is a source of threat intelligence: addresses or
// domain names, pulled over HTTP (or pushed through Linseed), matched
// against flow and DNS logs; an address feed can also be kept in a
// GlobalNetworkSet that policy denies.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Content",type=string,JSONPath=`.spec.content`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="LastSync",type=date,JSONPath=`.status.lastSuccessfulSync`
type GlobalThreatFeed struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec GlobalThreatFeedSpec `json:"spec"`
	// +optional
	Status GlobalThreatFeedStatus `json:"status,omitempty"`
}

// Threat feed contents.
const (
	ThreatFeedContentIPSet         = "IPSet"
	ThreatFeedContentDomainNameSet = "DomainNameSet"
)

// Threat feed modes.
const (
	ThreatFeedModeEnabled  = "Enabled"
	ThreatFeedModeDisabled = "Disabled"
)

// GlobalThreatFeedSpec says what a feed holds and where it comes from.
type GlobalThreatFeedSpec struct {
	// Content is IPSet (addresses and CIDRs) or DomainNameSet.
	// [Default: IPSet]
	// +kubebuilder:validation:Enum=IPSet;DomainNameSet
	// +kubebuilder:default=IPSet
	// +optional
	Content string `json:"content,omitempty"`
	// Mode is Enabled or Disabled (nothing is pulled or matched).
	// [Default: Enabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +kubebuilder:default=Enabled
	// +optional
	Mode string `json:"mode,omitempty"`
	// Description says what the feed is.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Description string `json:"description,omitempty"`
	// FeedType is Builtin or Custom. [Default: Custom]
	// +kubebuilder:validation:Enum=Builtin;Custom
	// +optional
	FeedType string `json:"feedType,omitempty"`
	// GlobalNetworkSet, for an IPSet feed that is pulled, keeps the feed
	// in the GlobalNetworkSet threatfeed.<name> with these labels.
	// +optional
	GlobalNetworkSet *GlobalNetworkSetSync `json:"globalNetworkSet,omitempty"`
	// Pull fetches the feed periodically; without it the feed is pushed
	// through Linseed.
	// +optional
	Pull *Pull `json:"pull,omitempty"`
}

// GlobalNetworkSetSync labels the GlobalNetworkSet a feed is kept in.
type GlobalNetworkSetSync struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// Pull says how and how often a feed is fetched.
type Pull struct {
	// Period between pulls: at least 5m. [Default: 24h]
	// +optional
	Period *metav1.Duration `json:"period,omitempty"`
	HTTP   *HTTPPull        `json:"http"`
}

// HTTPPull fetches a feed over HTTP(S).
type HTTPPull struct {
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
	// Format of the content. [Default: newlineDelimited]
	// +optional
	Format ThreatFeedFormat `json:"format,omitempty"`
	// Headers sent with the request; values may come from Secrets and
	// ConfigMaps.
	// +listType=atomic
	// +optional
	Headers []HTTPHeader `json:"headers,omitempty"`
}

// ThreatFeedFormat is one of: one entry per line, JSON with a path to
// the entries, or CSV with the entries' column.
type ThreatFeedFormat struct {
	// +optional
	NewlineDelimited *ThreatFeedFormatNewlineDelimited `json:"newlineDelimited,omitempty"`
	// +optional
	JSON *ThreatFeedFormatJSON `json:"json,omitempty"`
	// +optional
	CSV *ThreatFeedFormatCSV `json:"csv,omitempty"`
}

// ThreatFeedFormatNewlineDelimited is one address, network or domain
// per line; "#" starts a comment.
type ThreatFeedFormatNewlineDelimited struct{}

// ThreatFeedFormatJSON finds the entries with a JSONPath (no filters).
type ThreatFeedFormatJSON struct {
	Path string `json:"path"`
}

// ThreatFeedFormatCSV takes the entries from one column.
type ThreatFeedFormatCSV struct {
	// FieldNum is the column's index, from 0; or FieldName its header.
	// +optional
	FieldNum *uint32 `json:"fieldNum,omitempty"`
	// +optional
	FieldName string `json:"fieldName,omitempty"`
	// Header says the first record names the columns.
	// +optional
	Header bool `json:"header,omitempty"`
	// ColumnDelimiter is one character. [Default: ,]
	// +optional
	ColumnDelimiter string `json:"columnDelimiter,omitempty"`
	// CommentDelimiter starts a comment line.
	// +optional
	CommentDelimiter string `json:"commentDelimiter,omitempty"`
	// RecordSize is how many columns each record has (0: as the first).
	// +optional
	RecordSize int `json:"recordSize,omitempty"`
	// +optional
	DisableRecordSizeValidation bool `json:"disableRecordSizeValidation,omitempty"`
}

// HTTPHeader is a header with its value, or where the value is.
type HTTPHeader struct {
	Name string `json:"name"`
	// +optional
	Value string `json:"value,omitempty"`
	// +optional
	ValueFrom *HTTPHeaderSource `json:"valueFrom,omitempty"`
}

// HTTPHeaderSource is a ConfigMap's or a Secret's key.
type HTTPHeaderSource struct {
	// +optional
	ConfigMapKeyRef *KeyRef `json:"configMapKeyRef,omitempty"`
	// +optional
	SecretKeyRef *KeyRef `json:"secretKeyRef,omitempty"`
}

// KeyRef names a key of a ConfigMap or Secret in the intrusion-detection
// controller's namespace.
type KeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	// Optional: a missing key is no error.
	// +optional
	Optional *bool `json:"optional,omitempty"`
}

// GlobalThreatFeedStatus is what the controller last did with a feed.
type GlobalThreatFeedStatus struct {
	// +optional
	LastSuccessfulSync *metav1.Time `json:"lastSuccessfulSync,omitempty"`
	// +optional
	LastSuccessfulSearch *metav1.Time `json:"lastSuccessfulSearch,omitempty"`
	// +listType=atomic
	// +optional
	ErrorConditions []ErrorCondition `json:"errorConditions,omitempty"`
}

// ErrorCondition is one thing that went wrong.
type ErrorCondition struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// GlobalThreatFeedList is a list of GlobalThreatFeeds.
// +kubebuilder:object:root=true
type GlobalThreatFeedList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []GlobalThreatFeed `json:"items"`
}

// GlobalAlert is an alert rule: a query over flow, DNS or audit logs,
// run every period over the lookback window, whose matches (or
// aggregated buckets past a threshold) become security events.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="DataSet",type=string,JSONPath=`.spec.dataSet`
// +kubebuilder:printcolumn:name="Severity",type=integer,JSONPath=`.spec.severity`
// +kubebuilder:printcolumn:name="Active",type=boolean,JSONPath=`.status.active`
type GlobalAlert struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec GlobalAlertSpec `json:"spec"`
	// +optional
	Status GlobalAlertStatus `json:"status,omitempty"`
}

// GlobalAlertSpec is an alert rule.
type GlobalAlertSpec struct {
	// Type is RuleBased. [Default: RuleBased]
	// +kubebuilder:validation:Enum=RuleBased
	// +kubebuilder:default=RuleBased
	// +optional
	Type string `json:"type,omitempty"`
	// Description of each event, with ${field} substitutions.
	Description string `json:"description"`
	// Summary of each event, with ${field} substitutions.
	// +optional
	Summary string `json:"summary,omitempty"`
	// Severity of each event, 1 to 100.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Severity int `json:"severity"`
	// Period between runs, at least 1m. [Default: 5m]
	// +optional
	Period *metav1.Duration `json:"period,omitempty"`
	// Lookback is the window each run reads. [Default: 10m]
	// +optional
	Lookback *metav1.Duration `json:"lookback,omitempty"`
	// DataSet is flows, dns or audit.
	// +kubebuilder:validation:Enum=flows;dns;audit
	DataSet string `json:"dataSet"`
	// Query selects records, in Linseed's query language, with
	// ${name} standing for a substitution's values.
	// +optional
	Query string `json:"query,omitempty"`
	// AggregateBy fields: each combination of their values is a bucket,
	// and each bucket that fires is one event.
	// +listType=atomic
	// +optional
	AggregateBy []string `json:"aggregateBy,omitempty"`
	// Field the Metric is taken over (not for count).
	// +optional
	Field string `json:"field,omitempty"`
	// Metric of each bucket: count, min, max, sum or avg.
	// +kubebuilder:validation:Enum=count;min;max;sum;avg
	// +optional
	Metric string `json:"metric,omitempty"`
	// Condition on the metric against Threshold.
	// +kubebuilder:validation:Enum=eq;not_eq;lt;lte;gt;gte
	// +optional
	Condition string `json:"condition,omitempty"`
	// +optional
	Threshold float64 `json:"threshold,omitempty"`
	// Substitutions are value lists the query names as ${name}.
	// +listType=atomic
	// +optional
	Substitutions []GlobalAlertSubstitution `json:"substitutions,omitempty"`
}

// GlobalAlertSubstitution is a named list of values.
type GlobalAlertSubstitution struct {
	Name string `json:"name"`
	// +listType=atomic
	Values []string `json:"values"`
}

// GlobalAlertStatus is how the rule last ran.
type GlobalAlertStatus struct {
	// +optional
	LastUpdate *metav1.Time `json:"lastUpdate,omitempty"`
	// +optional
	Active bool `json:"active,omitempty"`
	// +optional
	Healthy bool `json:"healthy,omitempty"`
	// +optional
	LastExecuted *metav1.Time `json:"lastExecuted,omitempty"`
	// +optional
	LastEvent *metav1.Time `json:"lastEvent,omitempty"`
	// +listType=atomic
	// +optional
	ErrorConditions []ErrorCondition `json:"errorConditions,omitempty"`
}

// GlobalAlertList is a list of GlobalAlerts.
// +kubebuilder:object:root=true
type GlobalAlertList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []GlobalAlert `json:"items"`
}

// GlobalAlertTemplate is an alert rule offered as a starting point
// ("new from template" in the console); it does not run.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="DataSet",type=string,JSONPath=`.spec.dataSet`
type GlobalAlertTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec GlobalAlertSpec `json:"spec"`
}

// GlobalAlertTemplateList is a list of GlobalAlertTemplates.
// +kubebuilder:object:root=true
type GlobalAlertTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []GlobalAlertTemplate `json:"items"`
}

// AlertException suppresses the security events its selector matches
// while it is in force (from StartTime, until EndTime if set).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector`
// +kubebuilder:printcolumn:name="Start",type=date,JSONPath=`.spec.startTime`
// +kubebuilder:printcolumn:name="End",type=date,JSONPath=`.spec.endTime`
type AlertException struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec AlertExceptionSpec `json:"spec"`
}

// AlertExceptionSpec is what is suppressed, and when.
type AlertExceptionSpec struct {
	// Description says why.
	Description string `json:"description"`
	// Selector over events' fields, in Linseed's query language.
	Selector  string      `json:"selector"`
	StartTime metav1.Time `json:"startTime"`
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
}

// AlertExceptionList is a list of AlertExceptions.
// +kubebuilder:object:root=true
type AlertExceptionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []AlertException `json:"items"`
}

// SecurityEventWebhook sends the security events its query selects to a
// consumer: a Generic JSON endpoint, Slack or Alertmanager.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Consumer",type=string,JSONPath=`.spec.consumer`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
type SecurityEventWebhook struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec SecurityEventWebhookSpec `json:"spec"`
	// +optional
	Status SecurityEventWebhookStatus `json:"status,omitempty"`
}

// SecurityEventWebhookSpec is where events go.
type SecurityEventWebhookSpec struct {
	// Consumer is Generic, Slack or Alertmanager.
	// +kubebuilder:validation:Enum=Generic;Slack;Alertmanager
	Consumer string `json:"consumer"`
	// State is Enabled, Disabled, or Debug (delivery is logged, not sent).
	// +kubebuilder:validation:Enum=Enabled;Disabled;Debug
	State string `json:"state"`
	// Query selects the events, in Linseed's query language.
	// +optional
	Query string `json:"query,omitempty"`
	// +optional
	Description string `json:"description,omitempty"`
	// Config is the consumer's settings (url, ...), values or references.
	// +listType=atomic
	Config []SecurityEventWebhookConfigVar `json:"config"`
}

// SecurityEventWebhookConfigVar is one setting.
type SecurityEventWebhookConfigVar struct {
	Name string `json:"name"`
	// +optional
	Value string `json:"value,omitempty"`
	// +optional
	ValueFrom *HTTPHeaderSource `json:"valueFrom,omitempty"`
}

// SecurityEventWebhookStatus is how delivery goes.
type SecurityEventWebhookStatus struct {
	// Conditions: Ready is False while deliveries fail (with the last
	// failure as its message).
	// +listType=atomic
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// DeliveredUpTo is the generated_time (unix nanoseconds) of the last
	// event delivered; delivery resumes after it, also after a restart.
	// +optional
	DeliveredUpTo int64 `json:"deliveredUpTo,omitempty"`
	// LastDelivery is when an event was last delivered.
	// +optional
	LastDelivery *metav1.Time `json:"lastDelivery,omitempty"`
}

// SecurityEventWebhookList is a list of SecurityEventWebhooks.
// +kubebuilder:object:root=true
type SecurityEventWebhookList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []SecurityEventWebhook `json:"items"`
}
