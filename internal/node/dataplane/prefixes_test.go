package dataplane

import (
	"slices"
	"strings"
	"testing"
)

// TestEveryInterfacePrefixIsAWorkload: with interfacePrefix "cali,tap",
// traffic of both kinds of interface goes through the workload dispatch
// (and so is policed, or dropped as an unknown interface), never around it.
func TestEveryInterfacePrefixIsAWorkload(t *testing.T) {
	d, err := New(Config{InterfacePrefixes: []string{"cali", "tap"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for chain, want := range map[string]string{
		"filter-forward": `iifname { "cali*", "tap*" } jump from-wl-dispatch`,
		"filter-input":   `iifname { "cali*", "tap*" } jump wl-to-host`,
	} {
		c, ok := d.Table().Chain(chain)
		if !ok || !slices.ContainsFunc(c.Rules, func(r string) bool { return strings.Contains(r, want) }) {
			t.Errorf("%s lacks %q: %v", chain, want, c)
		}
	}
	one, _ := New(Config{}, nil, nil)
	if c, _ := one.Table().Chain("filter-forward"); !slices.Contains(c.Rules, `iifname "cali*" jump from-wl-dispatch`) {
		t.Errorf("the default prefix: %v", c.Rules)
	}
}
