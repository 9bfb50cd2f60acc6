package main

import (
	"strings"
	"testing"
)

// TestComplianceKinds: with the real API server and admission webhook,
// kubectl and calicoctl both refuse a report scheduled too often and a
// report type whose template names a field the report's data lacks,
// storing nothing; good ones are stored.
func TestComplianceKinds(t *testing.T) {
	run := toolRunner(t)
	report := func(name, schedule string) string {
		return "apiVersion: projectcalico.org/v3\nkind: GlobalReport\nmetadata: {name: " + name + "}\nspec:\n" +
			"  reportType: inventory\n  schedule: '" + schedule + "'\n  endpoints: {namespaces: {names: [demo]}}\n"
	}
	reportType := func(name, tpl string) string {
		return "apiVersion: projectcalico.org/v3\nkind: GlobalReportType\nmetadata: {name: " + name + "}\nspec:\n" +
			"  includeEndpointData: true\n  downloadTemplates:\n  - name: count.csv\n    template: '" + tpl + "'\n"
	}
	for _, tool := range []string{"kubectl", "calicoctl"} {
		for _, bad := range []struct{ yaml, resource, want string }{
			{report("busy-"+tool, "* * * * *"), "globalreports.projectcalico.org/busy-" + tool, "runs 60 times an hour; at most 12"},
			{reportType("typo-"+tool, "{{ .EndpointSummary.NumTotal }}"), "globalreporttypes.projectcalico.org/typo-" + tool, "EndpointSummary"},
		} {
			out, err := run(tool, bad.yaml, "apply", "-f", "-")
			if err == nil || !strings.Contains(out, bad.want) {
				t.Errorf("%s applied %s: %v\n%s\nwant a refusal saying %q", tool, bad.resource, err, out, bad.want)
			}
			if out, err := run("kubectl", "", "get", bad.resource); err == nil || !strings.Contains(out, "NotFound") {
				t.Errorf("%s stored %s: %v\n%s", tool, bad.resource, err, out)
			}
		}
		if out, err := run(tool, report("hourly-"+tool, "0 * * * *"), "apply", "-f", "-"); err != nil {
			t.Errorf("%s, a good report: %v\n%s", tool, err, out)
		}
		if out, err := run(tool, reportType("count-"+tool, "{{ .EndpointsSummary.NumTotal }}"), "apply", "-f", "-"); err != nil {
			t.Errorf("%s, a good report type: %v\n%s", tool, err, out)
		}
	}
}
