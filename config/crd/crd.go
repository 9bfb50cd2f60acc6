// Package crd embeds the CustomResourceDefinitions of the projectcalico.org/v3
// kinds, generated from api/v3 by hack/update-codegen.sh, so that the lab and
// installers can apply them without reading files at run time.
package crd

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed projectcalico.org_*.yaml
var files embed.FS

// All returns every CRD manifest, ordered by file name.
func All() [][]byte {
	names := Names()
	out := make([][]byte, 0, len(names))
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			// The names come from the embedded directory itself.
			panic(fmt.Sprintf("read embedded CRD %s: %v", n, err))
		}
		out = append(out, b)
	}
	return out
}

// Names returns the file names of the embedded CRDs, sorted.
func Names() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(fmt.Sprintf("list embedded CRDs: %v", err))
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// Get returns the manifest of the CRD for the given plural resource, e.g.
// "globalnetworkpolicies".
func Get(plural string) ([]byte, error) {
	b, err := files.ReadFile("projectcalico.org_" + plural + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no CRD for resource %q: %w", plural, err)
	}
	return b, nil
}
