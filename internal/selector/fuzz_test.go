package selector

import (
	"slices"
	"strings"
	"testing"
)

// fuzzLabels are the label sets on which a selector and its canonical form
// must agree.
var fuzzLabels = []map[string]string{
	nil,
	{"a": "b"},
	{"a": "", "b": "b", "c": "d"},
	{"a": `"`, "b": "'", "contains": "x", "app.kubernetes.io/name": "web"},
	{"a": "a1", "b": "b1", "c": "abc", "in": "in", "not": "0"},
}

// FuzzParse checks that Parse never panics and that every selector it
// accepts has a canonical form that parses back to the same selector.
func FuzzParse(f *testing.F) {
	for _, c := range evalCases {
		f.Add(c.sel)
	}
	for _, s := range []string{
		`b == b`, `'b1' == b`, `a b`, `!`, `foo == "bar" &`, `foo in {"", ||`, `"FOO'`,
		`(a == "foo"`, `()`, `a == "b" && %`, `has(foo) &&`, `a in {"z","z","x","y","x","a"}`,
		`! (has( b)||! has(a ))`, `a startswith '"'`, `!(k == 'v')`, `!(!(a == "b" || !c in {}))`,
		benchReference, benchLong,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			pe, ok := err.(*ParseError)
			if !ok || pe.Selector != s || pe.Pos < 0 || pe.Pos > len(s) || pe.Msg == "" {
				t.Fatalf("Parse(%q): bad error %#v", s, err)
			}
			if !strings.Contains(pe.Msg, "expected") {
				t.Fatalf("Parse(%q): error %q does not say what was expected", s, pe.Msg)
			}
			return
		}
		canon := sel.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again.String() != canon || again.UniqueID() != sel.UniqueID() {
			t.Fatalf("canonical form %q of %q re-parses as %q", canon, s, again.String())
		}
		for _, l := range fuzzLabels {
			want := sel.Evaluate(l)
			if again.Evaluate(l) != want || sel.EvaluateLabels(Map(l)) != want {
				t.Fatalf("%q and its canonical form %q disagree on %v", s, canon, l)
			}
		}
		for _, name := range sel.LabelNames() {
			if !strings.Contains(s, name) {
				t.Fatalf("LabelNames of %q includes %q, which is not in the input", s, name)
			}
		}

		// Prefixing labels renames them and nothing else.
		prefixed := sel.PrefixLabels("p.")
		for _, l := range fuzzLabels {
			pl := map[string]string{}
			for k, v := range l {
				pl["p."+k] = v
			}
			if prefixed.Evaluate(pl) != sel.Evaluate(l) {
				t.Fatalf("%q prefixed as %q disagrees on %v", s, prefixed, pl)
			}
		}
		if !slices.ContainsFunc(sel.LabelNames(), func(n string) bool { return len(n) > MaxLabelLen-2 }) {
			if again, err := Parse(prefixed.String()); err != nil || again.String() != prefixed.String() {
				t.Fatalf("prefixed %q does not round-trip: %v", prefixed, err)
			}
		}

		// And is a conjunction.
		extra := MustParse(`a == "b"`)
		both := And(sel, extra)
		for _, l := range fuzzLabels {
			if both.Evaluate(l) != (sel.Evaluate(l) && l["a"] == "b") {
				t.Fatalf("And(%q, %q) = %q is wrong on %v", s, extra, both, l)
			}
		}
	})
}
