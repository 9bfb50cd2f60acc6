package manifest

import (
	"strings"
	"testing"
)

func TestParseFormsAndPositions(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  []string // Kind/Name per document, with its index
	}{
		{"multi-document YAML with comments and blanks", "# top\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
			[]string{"1 Namespace/a", "2 Namespace/b"}},
		{"JSON object", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"n"}}`, []string{"1 Pod/p"}},
		{"JSON array", `[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}},{"apiVersion":"v1","kind":"Pod","metadata":{"name":"q"}}]`,
			[]string{"1 Pod/p", "2 Pod/q"}},
		{"List", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p}}\n- {apiVersion: v1, kind: Pod, metadata: {name: q}}\n",
			[]string{"1 Pod/p", "1 Pod/q"}},
	}
	for _, c := range cases {
		docs, err := Parse("f.yaml", []byte(c.input))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got []string
		for _, d := range docs {
			got = append(got, strings.Join([]string{itoa(d.Index), d.Kind + "/" + d.Name}, " "))
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestParseErrorsSayWhere(t *testing.T) {
	_, err := Parse("p.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\n---\nkind: Pod\nmetadata: {name: nover}\n---\nmetadata: [\n"))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"p.yaml: document 2", "apiVersion and kind are required", "p.yaml: document 3", "not valid YAML"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestDecodeStrictNamesUnknownFields(t *testing.T) {
	docs, err := Parse("t.yaml", []byte("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: 1, ordr: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = DecodeCalico(docs[0])
	if err == nil || !strings.Contains(err.Error(), `unknown field "spec.ordr"`) || !strings.Contains(err.Error(), `t.yaml: document 1 (Tier "t")`) {
		t.Errorf("got %v", err)
	}
}
