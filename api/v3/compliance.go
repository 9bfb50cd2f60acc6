package v3

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The compliance kinds, as Calico Enterprise defines them: report types
// (what a report holds and how it is rendered) and reports (a type,
// the endpoints in scope and a schedule) (docs/compliance.md).

// GlobalReportType is a kind of compliance report: the data it needs
// (endpoints, their flow logs, audit events, CIS benchmark results) and
// the Go templates that render it, for the console's summary and as
// downloads.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
type GlobalReportType struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec ReportTypeSpec `json:"spec"`
}

// ReportTypeSpec is what a report type holds and renders.
type ReportTypeSpec struct {
	// UISummaryTemplate renders the console's summary of a report: JSON,
	// a list of widgets.
	// +optional
	UISummaryTemplate ReportTemplate `json:"uiSummaryTemplate,omitempty"`
	// DownloadTemplates are the report's files; a template's name is
	// the file's name.
	// +listType=atomic
	// +optional
	DownloadTemplates []ReportTemplate `json:"downloadTemplates,omitempty"`
	// IncludeEndpointData adds the endpoints in scope, with their
	// policies over the interval.
	// +optional
	IncludeEndpointData bool `json:"includeEndpointData,omitempty"`
	// IncludeEndpointFlowLogData adds what the endpoints talked to, from
	// the flow logs (needs IncludeEndpointData).
	// +optional
	IncludeEndpointFlowLogData bool `json:"includeEndpointFlowLogData,omitempty"`
	// AuditEventsSelection adds the audit events of these resources.
	// +optional
	AuditEventsSelection *AuditEventsSelection `json:"auditEventsSelection,omitempty"`
	// IncludeCISBenchmarkData adds the nodes' CIS benchmark results.
	// +optional
	IncludeCISBenchmarkData bool `json:"includeCISBenchmarkData,omitempty"`
}

// ReportTemplate is a named Go template.
type ReportTemplate struct {
	// Name names the template; a download's is its file name
	// (endpoints.csv).
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Description string `json:"description,omitempty"`
	// Template is a Go text/template over the report's data.
	// +optional
	Template string `json:"template,omitempty"`
}

// AuditEventsSelection picks the audit events a report holds.
type AuditEventsSelection struct {
	// Resources match audit events by their object; an empty field
	// matches any value.
	// +listType=atomic
	// +optional
	Resources []AuditResource `json:"resources,omitempty"`
}

// AuditResource is a resource audit events are about.
type AuditResource struct {
	// Resource is the plural resource name (networkpolicies).
	// +optional
	Resource string `json:"resource,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// +optional
	APIGroup string `json:"apiGroup,omitempty"`
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
}

// GlobalReportTypeList is a list of GlobalReportTypes.
// +kubebuilder:object:root=true
type GlobalReportTypeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []GlobalReportType `json:"items"`
}

// GlobalReport is a compliance report: its type, the endpoints in
// scope, and the schedule of the intervals it covers (each run covers
// the interval since the last).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.reportType`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=`.spec.suspend`
type GlobalReport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec ReportSpec `json:"spec"`
	// +optional
	Status ReportStatus `json:"status,omitempty"`
}

// ReportSpec is a report's type, scope and schedule.
type ReportSpec struct {
	// ReportType names a GlobalReportType.
	ReportType string `json:"reportType"`
	// Endpoints are the endpoints in scope (all when empty).
	// +optional
	Endpoints *EndpointsSelection `json:"endpoints,omitempty"`
	// Schedule is a cron schedule (five fields, UTC) of the intervals'
	// ends; at most 12 an hour. Empty: the report is not scheduled.
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// JobNodeSelector places the report's jobs.
	// +optional
	JobNodeSelector map[string]string `json:"jobNodeSelector,omitempty"`
	// Suspend stops new runs; intervals missed meanwhile are not run.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`
	// CIS tunes a cis-benchmark report.
	// +optional
	CIS *CISBenchmarkParams `json:"cis,omitempty"`
}

// EndpointsSelection is a set of endpoints: those the selector matches,
// in the namespaces and with the service accounts given (each by names
// and a selector; both, when given, must match).
type EndpointsSelection struct {
	// +optional
	Selector string `json:"selector,omitempty"`
	// +optional
	Namespaces *NamesAndLabelsMatch `json:"namespaces,omitempty"`
	// +optional
	ServiceAccounts *NamesAndLabelsMatch `json:"serviceAccounts,omitempty"`
}

// NamesAndLabelsMatch matches by name and by label selector.
type NamesAndLabelsMatch struct {
	// +listType=atomic
	// +optional
	Names []string `json:"names,omitempty"`
	// +optional
	Selector string `json:"selector,omitempty"`
}

// CISBenchmarkParams tune a cis-benchmark report.
type CISBenchmarkParams struct {
	// HighThreshold is the percentage of passing tests at which a node
	// counts as high. [Default: 100]
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	HighThreshold *int `json:"highThreshold,omitempty"`
	// MedThreshold is the percentage at which it counts as medium.
	// [Default: 50]
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MedThreshold *int `json:"medThreshold,omitempty"`
	// IncludeUnscoredTests counts unscored tests too.
	// +optional
	IncludeUnscoredTests bool `json:"includeUnscoredTests,omitempty"`
	// NumFailedTests is how many of the most failed tests the summary
	// lists. [Default: 5]
	// +optional
	NumFailedTests int `json:"numFailedTests,omitempty"`
	// ResultsFilters include or exclude tests by id.
	// +listType=atomic
	// +optional
	ResultsFilters []CISBenchmarkFilter `json:"resultsFilters,omitempty"`
}

// CISBenchmarkFilter includes or excludes tests (by id, such as 1.1.1,
// or a section, such as 1.1) for a Kubernetes version (all if unset).
type CISBenchmarkFilter struct {
	// +optional
	BenchmarkSelection *CISBenchmarkSelection `json:"benchmarkSelection,omitempty"`
	// +listType=atomic
	// +optional
	Include []string `json:"include,omitempty"`
	// +listType=atomic
	// +optional
	Exclude []string `json:"exclude,omitempty"`
}

// CISBenchmarkSelection selects a benchmark by the Kubernetes version
// it is for.
type CISBenchmarkSelection struct {
	// +optional
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
}

// ReportStatus is what the controller has run.
type ReportStatus struct {
	// +listType=atomic
	// +optional
	LastSuccessfulReportJobs []CompletedReportJob `json:"lastSuccessfulReportJobs,omitempty"`
	// +listType=atomic
	// +optional
	LastFailedReportJobs []CompletedReportJob `json:"lastFailedReportJobs,omitempty"`
	// +listType=atomic
	// +optional
	ActiveReportJobs []ReportJob `json:"activeReportJobs,omitempty"`
	// +optional
	LastScheduledReportJob *ReportJob `json:"lastScheduledReportJob,omitempty"`
}

// ReportJob is a run of a report over one interval.
type ReportJob struct {
	Start metav1.Time `json:"start"`
	End   metav1.Time `json:"end"`
	// +optional
	Job *corev1.ObjectReference `json:"job,omitempty"`
}

// CompletedReportJob is a run that finished.
type CompletedReportJob struct {
	ReportJob `json:",inline"`
	// +optional
	JobCompletionTime *metav1.Time `json:"jobCompletionTime,omitempty"`
}

// GlobalReportList is a list of GlobalReports.
// +kubebuilder:object:root=true
type GlobalReportList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []GlobalReport `json:"items"`
}
