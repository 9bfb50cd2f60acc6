package validation_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/api/v3/validation/corpus"
)

// minAgreement is the share of upstream cases whose verdict ours must match.
const minAgreement = 0.97

// verdict decodes a corpus resource strictly and checks it as calicoctl does
// before writing: the namespace defaults to "default", then v3.Default, then
// Validate. It returns whether the resource is accepted, and why not.
func verdict(resource []byte) (bool, string) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(resource, &tm); err != nil {
		return false, "not a resource: " + err.Error()
	}
	k, ok := v3.KindFor(tm.Kind)
	if !ok {
		return false, "unknown kind " + tm.Kind
	}
	// encoding/json matches field names in any case, as calicoctl does
	// (internal/ctl); unknown fields are still refused.
	js, err := yaml.YAMLToJSON(resource)
	if err != nil {
		return false, "decode: " + err.Error()
	}
	obj := k.New()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return false, "decode: " + err.Error()
	}
	if k.Namespaced && obj.GetNamespace() == "" {
		obj.SetNamespace("default")
	}
	v3.Default(obj)
	if errs := validation.Validate(obj); len(errs) > 0 {
		return false, errs.ToAggregate().Error()
	}
	return true, ""
}

// TestUpstreamCorpus runs the cases derived from upstream Calico's validator
// tests and compares verdicts. Every disagreement must be declared in the
// corpus with the reason (`deliberate:`), a declared one that no longer
// disagrees must lose its declaration, and the agreement must stay at or
// above minAgreement.
func TestUpstreamCorpus(t *testing.T) {
	cases, err := corpus.Load("testdata/upstream-cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 400 {
		t.Fatalf("the corpus has only %d cases", len(cases))
	}
	agree := 0
	var declared, undeclared, stale []string
	kinds := map[string]int{}
	for _, c := range cases {
		kinds[c.Kind]++
		ok, why := verdict(c.Resource)
		if ok == c.Valid {
			agree++
			if c.Deliberate != "" {
				stale = append(stale, c.Name())
			}
			continue
		}
		line := fmt.Sprintf("%s: upstream valid=%v, ours valid=%v", c.Name(), c.Valid, ok)
		if why != "" {
			line += " (" + why + ")"
		}
		if c.Deliberate != "" {
			declared = append(declared, line+"\n      deliberate: "+c.Deliberate)
		} else {
			undeclared = append(undeclared, line)
		}
	}
	share := float64(agree) / float64(len(cases))
	t.Logf("agreement with upstream: %d of %d cases (%.1f%%)", agree, len(cases), 100*share)
	var ks []string
	for k, n := range kinds {
		ks = append(ks, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(ks)
	t.Logf("cases by kind: %s", strings.Join(ks, ", "))
	if len(declared) > 0 {
		t.Logf("deliberate disagreements:\n  %s", strings.Join(declared, "\n  "))
	}
	if len(undeclared) > 0 {
		t.Errorf("%d disagreements without a declared reason:\n  %s", len(undeclared), strings.Join(undeclared, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("cases declared deliberate that now agree (remove the declaration):\n  %s", strings.Join(stale, "\n  "))
	}
	if share < minAgreement {
		t.Errorf("agreement %.1f%% is below %.0f%%", 100*share, 100*minAgreement)
	}
}
