package manifests

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
)

//go:embed reporttypes/*.yaml
var reportTypeFiles embed.FS

// ReportTypes are the GlobalReportTypes compliance ships, as Calico
// Enterprise's: inventory, network-access, policy-audit and
// cis-benchmark, each with its console summary and its downloads
// (reporttypes/*.yaml).
func ReportTypes() []runtime.Object {
	names, _ := fs.Glob(reportTypeFiles, "reporttypes/*.yaml")
	slices.Sort(names)
	out := make([]runtime.Object, 0, len(names))
	for _, n := range names {
		data, _ := reportTypeFiles.ReadFile(n)
		var t v3.GlobalReportType
		if err := yaml.UnmarshalStrict(data, &t); err != nil {
			panic(fmt.Sprintf("%s: %v", n, err)) // embedded: a test reads them all
		}
		out = append(out, &t)
	}
	return out
}
