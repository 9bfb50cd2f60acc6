package validation_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
)

func report(spec v3.ReportSpec) *v3.GlobalReport {
	return &v3.GlobalReport{ObjectMeta: meta("weekly-inventory"), Spec: spec}
}

func reportType(spec v3.ReportTypeSpec) *v3.GlobalReportType {
	return &v3.GlobalReportType{ObjectMeta: meta("my-type"), Spec: spec}
}

// TestGlobalReports: a scheduled report with its scope and CIS
// parameters, and each way one can be wrong.
func TestGlobalReports(t *testing.T) {
	high, med, low := 90, 60, 95
	checkValid(t, "a scoped, scheduled report", report(v3.ReportSpec{ReportType: "inventory", Schedule: "*/5 * * * *",
		Endpoints: &v3.EndpointsSelection{Selector: "app == 'db'", Namespaces: &v3.NamesAndLabelsMatch{Names: []string{"demo"}, Selector: "env == 'prod'"},
			ServiceAccounts: &v3.NamesAndLabelsMatch{Names: []string{"default"}}},
		JobNodeSelector: map[string]string{"kubernetes.io/os": "linux"}, CIS: &v3.CISBenchmarkParams{HighThreshold: &high, MedThreshold: &med, NumFailedTests: 10}}))
	checkValid(t, "an unscheduled report", report(v3.ReportSpec{ReportType: "policy-audit"}))
	sp := "spec"
	checkInvalid(t, []invalidCase{
		{"no type", report(v3.ReportSpec{}), sp + ".reportType", field.ErrorTypeRequired, "GlobalReportType"},
		{"a cron with six fields", report(v3.ReportSpec{ReportType: "inventory", Schedule: "0 */5 * * * *"}), sp + ".schedule", field.ErrorTypeInvalid, "not a cron schedule"},
		{"every minute", report(v3.ReportSpec{ReportType: "inventory", Schedule: "* * * * *"}), sp + ".schedule", field.ErrorTypeInvalid, "runs 60 times an hour; at most 12"},
		{"13 times an hour", report(v3.ReportSpec{ReportType: "inventory", Schedule: "0,5,10,15,20,25,30,35,40,45,50,55,58 * * * *"}), sp + ".schedule", field.ErrorTypeInvalid, "13 times"},
		{"a bad selector", report(v3.ReportSpec{ReportType: "inventory", Endpoints: &v3.EndpointsSelection{Selector: "app =="}}), sp + ".endpoints.selector", field.ErrorTypeInvalid, ""},
		{"a bad namespace name", report(v3.ReportSpec{ReportType: "inventory", Endpoints: &v3.EndpointsSelection{Namespaces: &v3.NamesAndLabelsMatch{Names: []string{"Demo_1"}}}}),
			sp + ".endpoints.namespaces.names[0]", field.ErrorTypeInvalid, ""},
		{"a bad service account selector", report(v3.ReportSpec{ReportType: "inventory", Endpoints: &v3.EndpointsSelection{ServiceAccounts: &v3.NamesAndLabelsMatch{Selector: "a in"}}}),
			sp + ".endpoints.serviceAccounts.selector", field.ErrorTypeInvalid, ""},
		{"medium above high", report(v3.ReportSpec{ReportType: "cis-benchmark", CIS: &v3.CISBenchmarkParams{HighThreshold: &med, MedThreshold: &low}}),
			sp + ".cis.medThreshold", field.ErrorTypeInvalid, "above highThreshold (60)"},
	})
}

// TestGlobalReportTypes: templates must parse, run over a report's data
// (a field they name exists), and a summary must give JSON.
func TestGlobalReportTypes(t *testing.T) {
	checkValid(t, "a type with a summary and a CSV", reportType(v3.ReportTypeSpec{IncludeEndpointData: true,
		UISummaryTemplate: v3.ReportTemplate{Template: `{"total": {{ .EndpointsSummary.NumTotal }}}`},
		DownloadTemplates: []v3.ReportTemplate{{Name: "endpoints.csv", Template: "endpoint\n{{ range .Endpoints }}{{ csv .Endpoint }}\n{{ end }}"}}}))
	sp := "spec"
	checkInvalid(t, []invalidCase{
		{"a template that does not parse", reportType(v3.ReportTypeSpec{DownloadTemplates: []v3.ReportTemplate{{Name: "a.csv", Template: "{{ range .Endpoints }"}}}),
			sp + ".downloadTemplates[0].template", field.ErrorTypeInvalid, "unexpected"},
		{"a field that does not exist", reportType(v3.ReportTypeSpec{DownloadTemplates: []v3.ReportTemplate{{Name: "a.csv", Template: "{{ .EndpointSummary.NumTotal }}"}}}),
			sp + ".downloadTemplates[0].template", field.ErrorTypeInvalid, "EndpointSummary"},
		{"an unknown function", reportType(v3.ReportTypeSpec{DownloadTemplates: []v3.ReportTemplate{{Name: "a.csv", Template: "{{ upper .ReportName }}"}}}),
			sp + ".downloadTemplates[0].template", field.ErrorTypeInvalid, `"upper" not defined`},
		{"a summary that is not JSON", reportType(v3.ReportTypeSpec{UISummaryTemplate: v3.ReportTemplate{Template: "total {{ .EndpointsSummary.NumTotal }}"}}),
			sp + ".uiSummaryTemplate.template", field.ErrorTypeInvalid, "must render JSON"},
		{"a download without a name", reportType(v3.ReportTypeSpec{DownloadTemplates: []v3.ReportTemplate{{Template: "x"}}}),
			sp + ".downloadTemplates[0].name", field.ErrorTypeRequired, "file name"},
		{"two downloads of one name", reportType(v3.ReportTypeSpec{DownloadTemplates: []v3.ReportTemplate{{Name: "a.csv", Template: "x"}, {Name: "a.csv", Template: "y"}}}),
			sp + ".downloadTemplates[1].name", field.ErrorTypeDuplicate, ""},
		{"flow logs without endpoints", reportType(v3.ReportTypeSpec{IncludeEndpointFlowLogData: true}),
			sp + ".includeEndpointFlowLogData", field.ErrorTypeInvalid, "needs includeEndpointData"},
	})
	if _, err := validation.ParseSchedule("0 * * * *"); err != nil {
		t.Errorf("hourly: %v", err)
	}
}
