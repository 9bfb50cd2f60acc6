package v3_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
)

// decodeStrict decodes a manifest into the registered type of its kind,
// rejecting unknown and duplicate fields.
func decodeStrict(b []byte) (v3.Object, error) {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(b, &tm); err != nil {
		return nil, fmt.Errorf("read apiVersion and kind: %w", err)
	}
	if tm.APIVersion != v3.GroupVersionString {
		return nil, fmt.Errorf("apiVersion %q, want %q", tm.APIVersion, v3.GroupVersionString)
	}
	k, ok := v3.KindFor(tm.Kind)
	if !ok || k.Kind != tm.Kind {
		return nil, fmt.Errorf("unknown kind %q", tm.Kind)
	}
	obj := k.New()
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// normalise decodes JSON into generic values and drops nulls and empty objects,
// which encode "absent" in either direction (e.g. metadata.creationTimestamp).
func normalise(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return prune(v)
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = prune(e)
			if m, ok := e.(map[string]any); e == nil || ok && len(m) == 0 {
				delete(x, k)
				continue
			}
			x[k] = e
		}
		return x
	case []any:
		for i := range x {
			x[i] = prune(x[i])
		}
	}
	return v
}

func testdataFiles(t *testing.T) []string {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return files
}

// TestManifestsRoundTrip decodes each example manifest strictly and re-encodes
// it: nothing may be lost or changed.
func TestManifestsRoundTrip(t *testing.T) {
	for _, f := range testdataFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := decodeStrict(src)
			if err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			out, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			in, err := yaml.YAMLToJSON(src)
			if err != nil {
				t.Fatal(err)
			}
			want, got := normalise(t, in), normalise(t, out)
			if !sameJSON(want, got) {
				wj, _ := json.MarshalIndent(want, "", " ")
				gj, _ := json.MarshalIndent(got, "", " ")
				t.Errorf("round trip changed the object\nwant %s\ngot  %s", wj, gj)
			}

			// Defaulting is idempotent and keeps what the user wrote.
			d1 := obj.DeepCopyObject()
			v3.Default(d1)
			d2 := d1.DeepCopyObject()
			v3.Default(d2)
			if !reflect.DeepEqual(d1, d2) {
				t.Error("Default is not idempotent")
			}
			b1, _ := json.Marshal(d1)
			if !covers(normalise(t, b1), want) {
				t.Errorf("Default changed a value the manifest set:\n%s", b1)
			}
		})
	}
}

// sameJSON compares decoded JSON values; a key set to false on one side may be
// absent on the other, because a plain bool field with omitempty does not
// re-encode false (Calico's types behave the same way).
func sameJSON(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		for k, av := range am {
			bv, ok := bm[k]
			if !ok {
				if av != false {
					return false
				}
				continue
			}
			if !sameJSON(av, bv) {
				return false
			}
		}
		for k, bv := range bm {
			if _, ok := am[k]; !ok && bv != false {
				return false
			}
		}
		return true
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		if len(al) != len(bl) {
			return false
		}
		for i := range al {
			if !sameJSON(al[i], bl[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// covers reports whether every value in want is present, unchanged, in got.
func covers(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if _, ok := g[k]; !ok && v == false {
				continue
			}
			if !covers(g[k], v) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(got, want)
	}
}

func TestStrictDecodeRejectsTypos(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown spec field": "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: x}\nspec:\n  ingres: []\n",
		"unknown rule field": "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: x, namespace: y}\nspec:\n  ingress:\n  - action: Allow\n    sources: {}\n",
		"duplicate field":    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: x}\nspec:\n  cidr: 10.0.0.0/8\n  cidr: 10.0.0.0/16\n",
		"unknown felix":      "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec:\n  bpfEnabledd: true\n",
	} {
		if _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else if !strings.Contains(err.Error(), "unknown field") && !strings.Contains(err.Error(), "already set") {
			t.Errorf("%s: unexpected error %v", name, err)
		}
	}
}

// TestFelixConfigurationFieldCount guards against silently dropping fields:
// Calico's FelixConfigurationSpec has about 190 of them.
func TestFelixConfigurationFieldCount(t *testing.T) {
	n := reflect.TypeOf(v3.FelixConfigurationSpec{}).NumField()
	if n < 185 {
		t.Errorf("FelixConfigurationSpec has %d fields, expected at least 185", n)
	}
	seen := map[string]bool{}
	typ := reflect.TypeOf(v3.FelixConfigurationSpec{})
	for i := 0; i < n; i++ {
		tag := strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]
		if tag == "" || seen[tag] {
			t.Errorf("field %s has a missing or duplicate JSON name %q", typ.Field(i).Name, tag)
		}
		seen[tag] = true
	}
}
