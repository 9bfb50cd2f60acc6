// Package report is a compliance report's data and its rendering: the
// ReportData document the reporter computes for an interval (what the
// report types' templates see, and what is stored in Linseed), and the
// Go templates' functions. It is pure: no API clients.
package report

import (
	"encoding/json"
	"time"

	v3 "github.com/calicong/calico/api/v3"
)

// ReportData is one report over one interval, with Calico Enterprise's
// field names.
type ReportData struct {
	ReportName     string            `json:"reportName"`
	ReportTypeName string            `json:"reportTypeName"`
	ReportSpec     v3.ReportSpec     `json:"reportSpec"`
	ReportTypeSpec v3.ReportTypeSpec `json:"reportTypeSpec"`
	StartTime      time.Time         `json:"startTime"`
	EndTime        time.Time         `json:"endTime"`
	GenerationTime time.Time         `json:"generationTime"`

	Endpoints         []Endpoint        `json:"endpoints,omitempty"`
	EndpointsSummary  EndpointsSummary  `json:"endpointsSummary"`
	Namespaces        []Namespace       `json:"namespaces,omitempty"`
	NamespacesSummary EndpointsSummary  `json:"namespacesSummary"`
	Services          []Service         `json:"services,omitempty"`
	ServicesSummary   EndpointsSummary  `json:"servicesSummary"`
	AuditEvents       []json.RawMessage `json:"auditEvents,omitempty"`
	AuditSummary      AuditSummary      `json:"auditSummary"`
	Flows             []Flow            `json:"flows,omitempty"`

	CISBenchmark        []CISNode  `json:"cisBenchmark,omitempty"`
	CISBenchmarkSummary CISSummary `json:"cisBenchmarkSummary"`
}

// Stored is a report as Linseed keeps it (/compliance/reports): its
// data, its rendered summary, and an ID per report and interval.
type Stored struct {
	ID string `json:"id"`
	ReportData
	UISummary string `json:"uiSummary"`
}

// ResourceID names an object.
type ResourceID struct {
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// String is kind(namespace/name), as Calico's CSVs write it.
func (r ResourceID) String() string {
	n := r.Name
	if r.Namespace != "" {
		n = r.Namespace + "/" + n
	}
	if r.Kind == "" {
		return n
	}
	return r.Kind + "(" + n + ")"
}

// Endpoint is an endpoint in scope: whether it was protected for the
// whole interval, how it could be reached, and its policies.
type Endpoint struct {
	Endpoint                  ResourceID   `json:"endpoint"`
	ServiceAccount            string       `json:"serviceAccount,omitempty"`
	IngressProtected          bool         `json:"ingressProtected"`
	EgressProtected           bool         `json:"egressProtected"`
	IngressFromInternet       bool         `json:"ingressFromInternet"`
	EgressToInternet          bool         `json:"egressToInternet"`
	IngressFromOtherNamespace bool         `json:"ingressFromOtherNamespace"`
	EgressToOtherNamespace    bool         `json:"egressToOtherNamespace"`
	EnvoyEnabled              bool         `json:"envoyEnabled"`
	AppliedPolicies           []ResourceID `json:"appliedPolicies,omitempty"`
	Services                  []ResourceID `json:"services,omitempty"`
	// From the flow logs (network-access).
	FlowLogAggregationName                    string       `json:"flowLogAggregationName,omitempty"`
	EndpointsGeneratingTrafficToThisEndpoint  []ResourceID `json:"endpointsGeneratingTrafficToThisEndpoint,omitempty"`
	EndpointsReceivingTrafficFromThisEndpoint []ResourceID `json:"endpointsReceivingTrafficFromThisEndpoint,omitempty"`
}

// Namespace is a namespace with endpoints in scope; it is protected
// when all of them are.
type Namespace struct {
	Namespace                 ResourceID `json:"namespace"`
	IngressProtected          bool       `json:"ingressProtected"`
	EgressProtected           bool       `json:"egressProtected"`
	IngressFromInternet       bool       `json:"ingressFromInternet"`
	EgressToInternet          bool       `json:"egressToInternet"`
	IngressFromOtherNamespace bool       `json:"ingressFromOtherNamespace"`
	EgressToOtherNamespace    bool       `json:"egressToOtherNamespace"`
	EnvoyEnabled              bool       `json:"envoyEnabled"`
}

// Service is a service with endpoints in scope.
type Service struct {
	Service                   ResourceID `json:"service"`
	IngressProtected          bool       `json:"ingressProtected"`
	IngressFromInternet       bool       `json:"ingressFromInternet"`
	IngressFromOtherNamespace bool       `json:"ingressFromOtherNamespace"`
	EnvoyEnabled              bool       `json:"envoyEnabled"`
}

// EndpointsSummary counts endpoints (or namespaces, or services).
type EndpointsSummary struct {
	NumTotal                     int `json:"numTotal"`
	NumServiceAccounts           int `json:"numServiceAccounts"`
	NumIngressProtected          int `json:"numIngressProtected"`
	NumEgressProtected           int `json:"numEgressProtected"`
	NumIngressFromInternet       int `json:"numIngressFromInternet"`
	NumEgressToInternet          int `json:"numEgressToInternet"`
	NumIngressFromOtherNamespace int `json:"numIngressFromOtherNamespace"`
	NumEgressToOtherNamespace    int `json:"numEgressToOtherNamespace"`
	NumEnvoyEnabled              int `json:"numEnvoyEnabled"`
}

// AuditSummary counts the audit events by verb.
type AuditSummary struct {
	NumTotal  int `json:"numTotal"`
	NumCreate int `json:"numCreate"`
	NumModify int `json:"numModify"`
	NumDelete int `json:"numDelete"`
}

// Flow is a flow between two endpoints the report saw.
type Flow struct {
	Source      ResourceID `json:"source"`
	Destination ResourceID `json:"destination"`
}

// CISNode is one node's CIS benchmark results.
type CISNode struct {
	NodeName          string         `json:"nodeName"`
	KubernetesVersion string         `json:"kubernetesVersion"`
	BenchmarksVersion string         `json:"benchmarksVersion"`
	Summary           CISNodeSummary `json:"summary"`
	Results           []CISResult    `json:"results,omitempty"`
}

// CISNodeSummary is a node's counts and its status (HIGH, MED, LOW) by
// the report's thresholds.
type CISNodeSummary struct {
	Status    string `json:"status"`
	TotalPass int    `json:"totalPass"`
	TotalFail int    `json:"totalFail"`
	TotalInfo int    `json:"totalInfo"`
	Total     int    `json:"total"`
}

// CISResult is one test on a node.
type CISResult struct {
	TestNumber string `json:"testNumber"`
	TestDesc   string `json:"testDesc"`
	TestInfo   string `json:"testInfo"`
	Status     string `json:"status"` // PASS, FAIL or INFO
	Scored     bool   `json:"scored"`
}

// CISSummary counts the nodes by status, with the thresholds that
// decided it.
type CISSummary struct {
	Type          string `json:"type"`
	HighThreshold int    `json:"highThreshold"`
	MedThreshold  int    `json:"medThreshold"`
	HighCount     int    `json:"highCount"`
	MedCount      int    `json:"medCount"`
	LowCount      int    `json:"lowCount"`
	// TopFailedTests are the tests that failed on most nodes, most
	// first (the report's numFailedTests of them).
	TopFailedTests []CISFailedTest `json:"topFailedTests,omitempty"`
}

// CISFailedTest is a test and the number of nodes it failed on.
type CISFailedTest struct {
	TestNumber string `json:"testNumber"`
	TestDesc   string `json:"testDesc"`
	Count      int    `json:"count"`
}

// Sample is data with one of everything, to check that a template
// runs (a field it names exists) before it is stored.
func Sample() *ReportData {
	id := ResourceID{Kind: "Pod", Name: "frontend-1", Namespace: "demo"}
	pol := ResourceID{Kind: "NetworkPolicy", Name: "default.allow", Namespace: "demo"}
	svc := ResourceID{Kind: "Service", Name: "frontend", Namespace: "demo"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &ReportData{
		ReportName: "sample", ReportTypeName: "inventory",
		ReportSpec: v3.ReportSpec{ReportType: "inventory", Endpoints: &v3.EndpointsSelection{Selector: "app == 'frontend'",
			Namespaces:      &v3.NamesAndLabelsMatch{Names: []string{"demo", "prod"}, Selector: "all()"},
			ServiceAccounts: &v3.NamesAndLabelsMatch{Names: []string{"default"}}}},
		StartTime: t0, EndTime: t0.Add(time.Hour), GenerationTime: t0.Add(2 * time.Hour),
		Endpoints: []Endpoint{{Endpoint: id, ServiceAccount: "default", IngressProtected: true, AppliedPolicies: []ResourceID{pol}, Services: []ResourceID{svc},
			FlowLogAggregationName: "frontend-*", EndpointsGeneratingTrafficToThisEndpoint: []ResourceID{id}, EndpointsReceivingTrafficFromThisEndpoint: []ResourceID{id}}},
		EndpointsSummary: EndpointsSummary{NumTotal: 1, NumIngressProtected: 1},
		Namespaces:       []Namespace{{Namespace: ResourceID{Kind: "Namespace", Name: "demo"}}},
		Services:         []Service{{Service: svc}},
		AuditEvents:      []json.RawMessage{json.RawMessage(`{"verb":"create","objectRef":{"resource":"networkpolicies","name":"allow"}}`)},
		AuditSummary:     AuditSummary{NumTotal: 1, NumCreate: 1},
		Flows:            []Flow{{Source: id, Destination: id}},
		CISBenchmark: []CISNode{{NodeName: "node-1", KubernetesVersion: "1.36", BenchmarksVersion: "1.9",
			Summary: CISNodeSummary{Status: "HIGH", TotalPass: 1, Total: 1}, Results: []CISResult{{TestNumber: "1.1.1", TestDesc: "d", Status: "PASS", Scored: true}}}},
		CISBenchmarkSummary: CISSummary{Type: "kube", HighThreshold: 100, MedThreshold: 50, HighCount: 1,
			TopFailedTests: []CISFailedTest{{TestNumber: "1.1.1", TestDesc: "d", Count: 1}}},
	}
}
