// Package admission embeds the admission policies that the Kubernetes API
// server evaluates itself (CEL ValidatingAdmissionPolicy and
// MutatingAdmissionPolicy): protection of the built-in tiers, and for
// writers that bypass calicoctl the defaulting of policy types and the
// projectcalico.org/tier label (set from spec.tier, and refused when it
// names another tier).
package admission

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed *.yaml
var files embed.FS

// Manifests returns each embedded YAML file's content, sorted by file name.
func Manifests() (map[string][]byte, error) {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		data, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out[n] = data
	}
	return out, nil
}
