package manifests

import (
	"strings"
	"testing"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/internal/compliance/report"
)

// TestReportTypes: the four shipped report types pass validation, and
// each download renders Calico's columns.
func TestReportTypes(t *testing.T) {
	want := map[string]map[string]string{
		"inventory": {"endpoints.csv": "endpoint,ingressProtected,egressProtected,envoyEnabled,appliedPolicies,services",
			"summary.csv": "endpointsNumInScope,endpointsNumIngressProtected"},
		"network-access": {"endpoints.csv": "ingressFromInternet,egressToInternet,ingressFromOtherNamespace,egressToOtherNamespace",
			"summary.csv": "endpointsNumIngressFromInternet"},
		"policy-audit":  {"summary.csv": "numCreatedPolicies,numModifiedPolicies,numDeletedPolicies", "events.json": `"verb":"create"`},
		"cis-benchmark": {"node-summary.csv": "node,version,status,testsPassing,testsFailing,testsUnknown,testsTotal", "all-tests.csv": "node-1,1.1.1"},
	}
	types := ReportTypes()
	if len(types) != len(want) {
		t.Fatalf("%d report types, want %d", len(types), len(want))
	}
	for _, o := range types {
		rt := o.(*v3.GlobalReportType)
		v3.Default(rt)
		if errs := validation.Validate(rt); len(errs) > 0 {
			t.Errorf("%s: %v", rt.Name, errs)
			continue
		}
		for _, d := range rt.Spec.DownloadTemplates {
			out, err := report.Render(d.Name, d.Template, report.Sample())
			if err != nil {
				t.Errorf("%s %s: %v", rt.Name, d.Name, err)
				continue
			}
			if w, ok := want[rt.Name][d.Name]; ok && !strings.Contains(string(out), w) {
				t.Errorf("%s %s renders:\n%s\nwant %q in it", rt.Name, d.Name, out, w)
			}
			if strings.HasSuffix(d.Name, ".csv") {
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				cols := strings.Count(lines[0], ",")
				for _, l := range lines[1:] {
					if strings.Count(l, ",") != cols {
						t.Errorf("%s %s: %q has %d commas, the header %d", rt.Name, d.Name, l, strings.Count(l, ","), cols)
					}
				}
			}
		}
	}
}
