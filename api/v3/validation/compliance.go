package validation

import (
	"fmt"
	"math/bits"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/compliance/report"
)

// MaxReportsPerHour bounds a GlobalReport's schedule, as Calico
// Enterprise's.
const MaxReportsPerHour = 12

// ParseSchedule parses a report's cron schedule (five fields) and
// refuses one that runs more than MaxReportsPerHour times an hour.
func ParseSchedule(s string) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("not a cron schedule (minute hour day-of-month month day-of-week): %v", err)
	}
	if spec, ok := sched.(*cron.SpecSchedule); ok {
		if spec.Location != nil && spec.Location.String() != "UTC" && spec.Location.String() != "Local" {
			return nil, fmt.Errorf("time zones are not supported: schedules are in UTC")
		}
		if n := bits.OnesCount64(spec.Minute &^ (1 << 63)); n > MaxReportsPerHour {
			return nil, fmt.Errorf("runs %d times an hour; at most %d", n, MaxReportsPerHour)
		}
	}
	return sched, nil
}

func validateGlobalReportType(t *v3.GlobalReportType) field.ErrorList {
	errs := validateMeta(&t.ObjectMeta, false, subdomainName)
	s, p := t.Spec, specPath
	if tpl := s.UISummaryTemplate; tpl.Template != "" {
		if err := report.Check("uiSummaryTemplate", tpl.Template, true); err != nil {
			errs = append(errs, field.Invalid(p.Child("uiSummaryTemplate", "template"), "", err.Error()))
		}
	}
	names := map[string]bool{}
	for i, d := range s.DownloadTemplates {
		dp := p.Child("downloadTemplates").Index(i)
		switch {
		case d.Name == "":
			errs = append(errs, field.Required(dp.Child("name"), "the download's file name, such as endpoints.csv"))
		case len(validation.IsConfigMapKey(d.Name)) > 0:
			errs = append(errs, field.Invalid(dp.Child("name"), d.Name, "a file name: letters, digits, '-', '_' and '.'"))
		case names[d.Name]:
			errs = append(errs, field.Duplicate(dp.Child("name"), d.Name))
		}
		names[d.Name] = true
		if d.Template == "" {
			errs = append(errs, field.Required(dp.Child("template"), "a Go template over the report's data"))
		} else if err := report.Check(d.Name, d.Template, false); err != nil {
			errs = append(errs, field.Invalid(dp.Child("template"), "", err.Error()))
		}
	}
	if s.IncludeEndpointFlowLogData && !s.IncludeEndpointData {
		errs = append(errs, field.Invalid(p.Child("includeEndpointFlowLogData"), true, "needs includeEndpointData: flow logs are added to the endpoints"))
	}
	return errs
}

func validateGlobalReport(r *v3.GlobalReport) field.ErrorList {
	errs := validateMeta(&r.ObjectMeta, false, subdomainName)
	s, p := r.Spec, specPath
	if s.ReportType == "" {
		errs = append(errs, field.Required(p.Child("reportType"), "the name of a GlobalReportType, such as inventory"))
	} else if msgs := validation.IsDNS1123Subdomain(s.ReportType); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("reportType"), s.ReportType, msgs[0]))
	}
	if s.Schedule != "" {
		if _, err := ParseSchedule(s.Schedule); err != nil {
			errs = append(errs, field.Invalid(p.Child("schedule"), s.Schedule, err.Error()))
		}
	}
	if e := s.Endpoints; e != nil {
		ep := p.Child("endpoints")
		errs = append(errs, validateSelector(ep.Child("selector"), e.Selector, false)...)
		for _, m := range []struct {
			name string
			m    *v3.NamesAndLabelsMatch
		}{{"namespaces", e.Namespaces}, {"serviceAccounts", e.ServiceAccounts}} {
			if m.m == nil {
				continue
			}
			mp := ep.Child(m.name)
			for i, n := range m.m.Names {
				if msgs := validation.IsDNS1123Subdomain(n); len(msgs) > 0 {
					errs = append(errs, field.Invalid(mp.Child("names").Index(i), n, msgs[0]))
				}
			}
			errs = append(errs, validateSelector(mp.Child("selector"), m.m.Selector, false)...)
		}
	}
	for k, v := range s.JobNodeSelector {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(p.Child("jobNodeSelector").Key(k), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(p.Child("jobNodeSelector").Key(k), v, msg))
		}
	}
	if c := s.CIS; c != nil {
		cp := p.Child("cis")
		high, med := 100, 50
		if c.HighThreshold != nil {
			high = *c.HighThreshold
		}
		if c.MedThreshold != nil {
			med = *c.MedThreshold
		}
		for _, t := range []struct {
			name string
			v    int
		}{{"highThreshold", high}, {"medThreshold", med}} {
			if t.v < 0 || t.v > 100 {
				errs = append(errs, field.Invalid(cp.Child(t.name), t.v, "a percentage, 0 to 100"))
			}
		}
		if med > high {
			errs = append(errs, field.Invalid(cp.Child("medThreshold"), med, fmt.Sprintf("must not be above highThreshold (%d)", high)))
		}
		if c.NumFailedTests < 0 {
			errs = append(errs, field.Invalid(cp.Child("numFailedTests"), c.NumFailedTests, "must not be negative"))
		}
	}
	return errs
}
