package selector

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	goparser "go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type evalCase struct {
	sel    string
	labels map[string]string
	want   bool
}

// evalCases are the reference match table (numbered as in the reference
// notes, §2.4) followed by cases for each operator and syntax variant.
var evalCases = []evalCase{
	// 1-8
	{`a == "b"`, map[string]string{"a": "b"}, true},
	{`a == "b"`, map[string]string{"a": "b", "c": "d"}, true},
	{`a == "b"`, map[string]string{}, false},
	{`a == "b"`, map[string]string{"a": "c"}, false},
	{`a == "b" && c == "d"`, map[string]string{"a": "b", "c": "d"}, true},
	{`a == "b" && c == "d"`, map[string]string{"a": "b"}, false},
	{`a == "b" || c == "d"`, map[string]string{"c": "d"}, true},
	{`a == "b" || c == "d"`, map[string]string{"a": "e", "c": "e"}, false},
	// 9-14
	{`a in {"'", '"', "c"}`, map[string]string{"a": `"`}, true},
	{`a not in {"'", '"', "c"}`, map[string]string{}, true},
	{`a not in {"'", '"', "c"}`, map[string]string{"a": "c"}, false},
	{`a != "b"`, map[string]string{"a": "a"}, true},
	{`a != "a"`, map[string]string{}, true},
	{`a != "a"`, map[string]string{"a": "a"}, false},
	// 15-18
	{`a contains "a"`, map[string]string{"a": "bab"}, true},
	{`a contains "a"`, map[string]string{"b": "aaa"}, false},
	{`a starts with "a"`, map[string]string{"a": "abb"}, true},
	{`a starts with "a"`, map[string]string{"a": "baa"}, false},
	{`a ends with "a"`, map[string]string{"a": "bba"}, true},
	{`a ends with "a"`, map[string]string{"a": "aab"}, false},
	// 19-21
	{`!a in {"a"}`, map[string]string{"a": "b"}, true},
	{`has(a)`, map[string]string{"a": "b"}, true},
	{`!has(a)`, map[string]string{"b": "b"}, true},
	{`!has(a)`, map[string]string{"a": "b"}, false},
	// 22-23
	{``, map[string]string{}, true},
	{``, map[string]string{"a": "b"}, true},
	{` `, map[string]string{}, true},
	{` `, map[string]string{"a": "b"}, true},
	{`all()`, map[string]string{}, true},
	{`all()`, map[string]string{"a": "b"}, true},
	{` global()`, map[string]string{}, true},
	{` global()`, map[string]string{"a": "b"}, true},
	// 24-30
	{`!!has(b)`, map[string]string{"a": "b"}, false},
	{`!! ! has(a)`, map[string]string{"a": "b"}, false},
	{`a == 'a1' && b != 'b1'`, map[string]string{"a": "a1", "b": "b1"}, false},
	{`!(!has(a) || has(b))`, map[string]string{"a": "a"}, true},
	{`a != 'a1' || b != 'b1'`, map[string]string{"a": "a1", "b": "b1"}, false},
	{`a == 'a1' || b != 'b1'`, map[string]string{"a": "a1", "b": "b1"}, true},
	{`! a == 'a1' || ! b == 'b1'`, map[string]string{"a": "a1", "b": "b1"}, false},

	// More from the reference tests.
	{`a in {"'", '"', "c"}`, map[string]string{"a": "'"}, true},
	{`a in {"'", '"', "c"}`, map[string]string{"a": "e"}, false},
	{`a not in {"'", '"', "c"}`, map[string]string{"a": "e"}, true},
	{`! !!has(a)`, map[string]string{"a": "b"}, false},
	{`!!! has(a)`, map[string]string{"a": "b"}, false},
	{`a != 'a1' && !b == 'b1'`, map[string]string{"a": "a1", "b": "b1"}, false},
	{`!(has(b) || !has(a))`, map[string]string{"a": "a"}, true},
	{`!has(b) && has(a)`, map[string]string{"a": "a"}, true},

	// Absent labels: only the negative comparisons pass.
	{`a contains "x"`, nil, false},
	{`a starts with "x"`, nil, false},
	{`a ends with "x"`, nil, false},
	{`a in {"x"}`, nil, false},
	{`!a contains "x"`, nil, true},
	{`a == ""`, map[string]string{"a": ""}, true},
	{`a == ""`, nil, false},
	{`a != ""`, nil, true},
	{`has(a)`, map[string]string{"a": ""}, true},
	{`a contains ""`, map[string]string{"a": ""}, true},
	{`a starts with ""`, map[string]string{"a": "x"}, true},

	// Sets, including empty ones and sets long enough to be searched.
	{`a in {}`, map[string]string{"a": ""}, false},
	{`a in {}`, nil, false},
	{`a not in {}`, map[string]string{"a": "x"}, true},
	{`a not in {}`, nil, true},
	{`a in {"1","2","3","4","5","6","7","8","9","10","11","12"}`, map[string]string{"a": "11"}, true},
	{`a in {"1","2","3","4","5","6","7","8","9","10","11","12"}`, map[string]string{"a": "13"}, false},
	{`a not in {"1","2","3","4","5","6","7","8","9","10","11","12"}`, map[string]string{"a": "12"}, false},
	{`a not in {"1","2","3","4","5","6","7","8","9","10","11","12"}`, map[string]string{"a": "0"}, true},
	{`a notin {"x"}`, map[string]string{"a": "x"}, false},
	{`a in {"x", "x"}`, map[string]string{"a": "x"}, true},

	// Precedence: ! binds tighter than &&, && tighter than ||.
	{`a == "1" || b == "2" && c == "3"`, map[string]string{"a": "1"}, true},
	{`a == "1" || b == "2" && c == "3"`, map[string]string{"b": "2"}, false},
	{`a == "1" || b == "2" && c == "3"`, map[string]string{"b": "2", "c": "3"}, true},
	{`(a == "1" || b == "2") && c == "3"`, map[string]string{"a": "1"}, false},
	{`(a == "1" || b == "2") && c == "3"`, map[string]string{"a": "1", "c": "3"}, true},
	{`!a == "x" && b == "y"`, map[string]string{"b": "y"}, true},
	{`!a == "x" && b == "y"`, map[string]string{"a": "x", "b": "y"}, false},
	{`!(a == "x" && b == "y")`, map[string]string{"a": "x"}, true},
	{`((a == "1"))`, map[string]string{"a": "1"}, true},
	{`(((a == "1") || (b == "2")) && !(c == "3"))`, map[string]string{"b": "2", "c": "4"}, true},
	{`(((a == "1") || (b == "2")) && !(c == "3"))`, map[string]string{"b": "2", "c": "3"}, false},
	{`!!!has(a)`, map[string]string{"a": "x"}, false},
	{`!(!has(a))`, map[string]string{"a": "x"}, true},

	// Label characters, and labels that look like keywords.
	{`app.kubernetes.io/name == "web"`, map[string]string{"app.kubernetes.io/name": "web"}, true},
	{`my-label_2 == "v"`, map[string]string{"my-label_2": "v"}, true},
	{`projectcalico.org/namespace in {"a","b"}`, map[string]string{"projectcalico.org/namespace": "b"}, true},
	{`contains contains "x"`, map[string]string{"contains": "axb"}, true},
	{`in in {"x"}`, map[string]string{"in": "x"}, true},
	{`not not in {"x"}`, map[string]string{"not": "y"}, true},
	{`has == "x"`, map[string]string{"has": "x"}, true},
	{`all == "x"`, map[string]string{}, false},
	{`global != "x"`, map[string]string{"global": "x"}, false},
	{`has(contains)`, map[string]string{"contains": ""}, true},
	{`starts starts with "s"`, map[string]string{"starts": "sun"}, true},
	{`ends endswith "s"`, map[string]string{"ends": "bus"}, true},

	// Quotes inside values.
	{`a == "it's"`, map[string]string{"a": "it's"}, true},
	{`a == '"q"'`, map[string]string{"a": `"q"`}, true},
	{`a contains '"'`, map[string]string{"a": `x"y`}, true},

	// Whitespace: none, lots, tabs, and inside the call parentheses.
	{`a=="b"&&c!="d"`, map[string]string{"a": "b"}, true},
	{"  a   ==   \"b\"   ", map[string]string{"a": "b"}, true},
	{"a\t==\t\"b\"\t&&\thas(\tc\t)", map[string]string{"a": "b", "c": ""}, true},
	{`has( a )`, map[string]string{"a": "b"}, true},
	{`all( )`, nil, true},
	{"global(\t)", nil, true},
	{"a\tnot\tin\t{\t\"x\"\t,\t'y'\t}", map[string]string{"a": "z"}, true},
	{`a not in{"x"}`, map[string]string{"a": "x"}, false},
	{`a startswith"x"`, map[string]string{"a": "xy"}, true},
	{"a starts \t with \"x\"", map[string]string{"a": "xy"}, true},
	{`a in {"x"}||b in{"y"}`, map[string]string{"b": "y"}, true},
	{`! ( a == "x" )`, nil, true},

	// Longest label.
	{strings.Repeat("l", 512) + ` == "v"`, map[string]string{strings.Repeat("l", 512): "v"}, true},
}

func TestEvaluate(t *testing.T) {
	for _, c := range evalCases {
		sel, err := Parse(c.sel)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.sel, err)
			continue
		}
		if got := sel.Evaluate(c.labels); got != c.want {
			t.Errorf("Parse(%q).Evaluate(%v) = %v, want %v", c.sel, c.labels, got, c.want)
		}
		if got := sel.EvaluateLabels(Map(c.labels)); got != c.want {
			t.Errorf("Parse(%q).EvaluateLabels(%v) = %v, want %v", c.sel, c.labels, got, c.want)
		}
		// The canonical form must mean the same thing.
		again, err := Parse(sel.String())
		if err != nil {
			t.Errorf("Parse(%q) of the canonical form of %q: %v", sel.String(), c.sel, err)
			continue
		}
		if got := again.Evaluate(c.labels); got != c.want {
			t.Errorf("canonical %q of %q evaluates to %v, want %v", sel.String(), c.sel, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("l", 513)
	cases := []struct {
		sel  string
		pos  int
		want string // part of the message
	}{
		// Reference rejects.
		{`b == b`, 5, `expected a quoted string after "==", found "b" (values must be quoted)`},
		{`b contains b`, 11, `expected a quoted string after "contains", found "b"`},
		{`b starts with b`, 14, `expected a quoted string after "starts with", found "b"`},
		{`b ends with b`, 12, `expected a quoted string after "ends with", found "b"`},
		{`a == "b" || %`, 12, `found "%"`},
		{`'b1' == b`, 0, `expected a label, has(), all(), global(), ! or (, found string "b1"`},
		{`b`, 1, `after label "b", found end of selector`},
		{`a b`, 2, `expected "==", "!=", "in", "not in", "contains", "starts with" or "ends with" after label "a", found "b"`},
		{`!`, 1, `expected a label, has(), all(), global(), ! or (, found end of selector`},
		{`foo == "bar" &`, 13, `expected "&&", "||" or end of selector, found "&" (did you mean "&&"?)`},
		{`foo == "bar" |`, 13, `found "|" (did you mean "||"?)`},
		{`foo != ||`, 7, `expected a quoted string after "!=", found "||"`},
		{`foo in {"", ||`, 12, `expected a quoted string after ",", found "||"`},
		{`foo in ""`, 7, `expected "{" after "in", found string ""`},
		{`"FOO`, 0, `unterminated string: expected a closing ", found end of selector`},
		{`'FOO`, 0, `unterminated string: expected a closing ', found end of selector`},
		{`"FOO'`, 0, `unterminated string`},
		{`(`, 1, `expected a label, has(), all(), global(), ! or (, found end of selector`},
		{`(a == "foo"`, 11, `expected "&&", "||" or ")", found end of selector`},
		{`)`, 0, `found ")"`},
		{`()`, 1, `expected a label, has(), all(), global(), ! or (, found ")"`},
		{`%`, 0, `found "%"`},
		{`a == "b" && %`, 12, `expected a label, has(), all(), global(), ! or (, found "%"`},
		{`a `, 2, `after label "a", found end of selector`},
		{`has(foo) &&`, 11, `expected a label, has(), all(), global(), ! or (, found end of selector`},

		// Our own.
		{`a == "FOO`, 5, `unterminated string`},
		{`a in {"x", 'y}`, 11, `unterminated string`},
		{`a = "b"`, 2, `found "=" (did you mean "=="?)`},
		{`a == "b" & c == "d"`, 9, `found "&" (did you mean "&&"?)`},
		{`a == "b" | c == "d"`, 9, `found "|"`},
		{`a == "b")`, 8, `expected "&&", "||" or end of selector, found ")"`},
		{`a == "b" c == "d"`, 9, `expected "&&", "||" or end of selector, found "c"`},
		{`a == "b" && && c == "d"`, 12, `found "&&"`},
		{`a == "b" ||`, 11, `found end of selector`},
		{`a in {"a",}`, 10, `expected a quoted string after ",", found "}"`},
		{`a in {"a" "b"}`, 10, `expected "," or "}" in set, found string "b"`},
		{`a in {"a"`, 9, `expected "," or "}" in set, found end of selector`},
		{`a in {`, 6, `expected a quoted string or "}", found end of selector`},
		{`a in {b}`, 6, `(values must be quoted)`},
		{`a not "b"`, 2, `after label "a", found "not"`},
		{`a inx {"b"}`, 2, `after label "a", found "inx"`},
		{`a containsx "b"`, 2, `found "containsx"`},
		{`a starts "b"`, 2, `after label "a"`},
		{`a startswith`, 12, `expected a quoted string after "starts with", found end of selector`},
		{"a\n== \"b\"", 1, `found "\n"`},
		{"a\r== \"b\"", 1, `found "\r"`},
		{`a == "b" && é`, 12, `found "é"`},
		{`has()`, 4, `expected a label inside "has()", found ")"`},
		{`has(a`, 5, `expected ")" after "has(a", found end of selector`},
		{`has(a b)`, 6, `expected ")" after "has(a", found "b"`},
		{`has (a)`, 4, `after label "has", found "("`},
		{`all(x)`, 4, `expected ")" after "all(", found "x"`},
		{`global(`, 7, `expected ")" after "global(", found end of selector`},
		{`!!`, 2, `found end of selector`},
		{`"a" == "b"`, 0, `found string "a" (a value must follow a label and an operator)`},
		{long + ` == "v"`, 0, `is 513 characters long, expected at most 512`},
		{`has(` + long + `)`, 4, `is 513 characters long`},
		{`a == "b" || ` + long + `x`, 12, `is 514 characters long`},
	}
	for _, c := range cases {
		sel, err := Parse(c.sel)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want an error", c.sel, sel)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) error %T, want *ParseError", c.sel, err)
			continue
		}
		if pe.Selector != c.sel || pe.Pos != c.pos || !strings.Contains(pe.Msg, c.want) {
			t.Errorf("Parse(%q) error at %d: %q; want position %d and a message containing %q",
				c.sel, pe.Pos, pe.Msg, c.pos, c.want)
		}
		wantText := "invalid selector " + strconv.Quote(c.sel) + ": at position " + strconv.Itoa(c.pos) + ": "
		if len(c.sel) > maxQuotedLen {
			wantText = "invalid selector near "
		}
		if !strings.HasPrefix(err.Error(), wantText) {
			t.Errorf("Parse(%q) error %q, want it to start with %q", c.sel, err, wantText)
		}
	}
}

func TestParseErrorText(t *testing.T) {
	_, err := Parse(`a == "b" && %`)
	want := `invalid selector "a == \"b\" && %": at position 12: expected a label, has(), all(), global(), ! or (, found "%"`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}

	// A long selector is quoted as an excerpt around the problem.
	long := strings.Repeat(`a == "b" && `, 100) + `%` + strings.Repeat(` && a == "b"`, 100)
	_, err = Parse(long)
	if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), `&& % &&`) ||
		!strings.HasPrefix(err.Error(), `invalid selector near "`) ||
		!strings.Contains(err.Error(), ": at position 1200: expected a label") {
		t.Errorf("error for a long selector = %v", err)
	}
}

func TestCanonicalForm(t *testing.T) {
	cases := []struct{ in, want string }{
		// Reference cases.
		{`! (has( b)||! has(a ))`, `!(has(b) || !has(a))`},
		{`a startswith '"'`, `a starts with '"'`},
		{`a in {"z","z","x","y","x","a"}`, `a in {"a", "x", "y", "z"}`},
		{``, `all()`},
		{" (all() )", `all()`},

		// Spellings and quoting.
		{" \t ", `all()`},
		{`a endswith "x"`, `a ends with "x"`},
		{`a notin {"x"}`, `a not in {"x"}`},
		{"a not \t in{'x'}", `a not in {"x"}`},
		{`a=='b'`, `a == "b"`},
		{`a!='b'`, `a != "b"`},
		{`a contains'b'`, `a contains "b"`},
		{`a == "it's"`, `a == "it's"`},
		{`a == '"'`, `a == '"'`},
		{`a in {"'", '"', "c"}`, `a in {'"', "'", "c"}`},
		{`a in { }`, `a in {}`},
		{`a not in {}`, `a not in {}`},
		{`has(	a )`, `has(a)`},
		{`global( )`, `global()`},

		// Grouping and negation.
		{`a == "b" && c == "d"`, `(a == "b" && c == "d")`},
		{`a == "1" || b == "2" && c == "3"`, `(a == "1" || (b == "2" && c == "3"))`},
		{`(a == "1" && b == "2") && c == "3"`, `((a == "1" && b == "2") && c == "3")`},
		{`a == "1" && b == "2" && c == "3"`, `(a == "1" && b == "2" && c == "3")`},
		{`((a == "1"))`, `a == "1"`},
		{`!(!has(a))`, `has(a)`},
		{`!!has(a)`, `has(a)`},
		{`!!!has(a)`, `!has(a)`},
		{`!!all()`, `all()`},
		{`! a == 'a1'`, `!a == "a1"`},
		{`!(a == "b" && c == "d")`, `!(a == "b" && c == "d")`},
		{`! (a == "b"&&! c != "d") || !(a == "b" && !c != "d")`, `(!(a == "b" && !c != "d") || !(a == "b" && !c != "d"))`},
		{`all() && global()`, `(all() && global())`},
	}
	for _, c := range cases {
		sel, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := sel.String(); got != c.want {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, got, c.want)
		}
		again := MustParse(sel.String())
		if again.String() != sel.String() || again.UniqueID() != sel.UniqueID() {
			t.Errorf("canonical form %q of %q does not round-trip: got %q", sel, c.in, again)
		}
	}
}

// uid computes the unique ID independently of the package.
func uid(canonical string) string {
	sum := sha256.Sum224([]byte("s:" + canonical))
	return "s:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestUniqueID(t *testing.T) {
	empty, spaced := MustParse(""), MustParse(" (all() )")
	if empty.UniqueID() != spaced.UniqueID() {
		t.Errorf(`"" and " (all() )" have different IDs %q and %q`, empty.UniqueID(), spaced.UniqueID())
	}
	if got, want := empty.UniqueID(), uid("all()"); got != want {
		t.Errorf("UniqueID of all() = %q, want %q", got, want)
	}
	for _, s := range []string{`a == "b"`, `a in {"y", "x", "y"}`, `!(has(b) || c != 'd')`} {
		sel := MustParse(s)
		if got, want := sel.UniqueID(), uid(sel.String()); got != want {
			t.Errorf("UniqueID of %q = %q, want %q", s, got, want)
		}
	}
	// IDs published by the reference implementation's tests, so that IP set
	// names stay compatible.
	for _, c := range []struct{ sel, id string }{
		{``, "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"},
		{` all() `, "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"},
		{`! (has( b)||! has(a ))`, "s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q"},
		{`! (a == "b"&&! c != "d")`, "s:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w"},
	} {
		if got := MustParse(c.sel).UniqueID(); got != c.id {
			t.Errorf("UniqueID of %q = %q, want %q", c.sel, got, c.id)
		}
	}
	// Spelling does not matter; meaning does.
	if MustParse(`a=='b'`).UniqueID() != MustParse(`a == "b"`).UniqueID() {
		t.Error(`a=='b' and a == "b" have different IDs`)
	}
	seen := map[string]string{}
	for _, s := range []string{`a == "b"`, `a == "c"`, `b == "b"`, `a != "b"`, `!a == "b"`,
		`has(a)`, `!has(a)`, `all()`, `global()`, `a in {"b"}`, `a not in {"b"}`,
		`a contains "b"`, `a starts with "b"`, `a ends with "b"`,
		`(a == "b" && c == "d")`, `(a == "b" || c == "d")`} {
		id := MustParse(s).UniqueID()
		if prev, ok := seen[id]; ok {
			t.Errorf("%q and %q share the ID %q", prev, s, id)
		}
		seen[id] = s
	}
}

func TestPrefixLabels(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`!(k == 'v')`, `!visited/k == "v"`},
		{`k != 'v'`, `visited/k != "v"`},
		{`k starts with 'v'`, `visited/k starts with "v"`},
		{`k == 'v' || has(x)`, `(visited/k == "v" || has(visited/x))`},
		{`k not in {'v'}`, `visited/k not in {"v"}`},
		{`!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))`,
			`!(!((visited/k == "v" && has(visited/t)) || all()) && visited/a in {"b", "c"})`},
	} {
		if got := MustParse(c.in).PrefixLabels("visited/").String(); got != c.want {
			t.Errorf("PrefixLabels(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	orig := MustParse(`has(a) && b in {"x"} || all() || global() || !c contains "z"`)
	origText := orig.String()
	p := orig.PrefixLabels("pcns.")
	want := `((has(pcns.a) && pcns.b in {"x"}) || all() || global() || !pcns.c contains "z")`
	if p.String() != want {
		t.Errorf("prefixed = %q, want %q", p.String(), want)
	}
	if orig.String() != origText || orig.LabelNames()[0] != "a" {
		t.Errorf("PrefixLabels changed the original: %q", orig)
	}
	if p.UniqueID() != uid(want) {
		t.Errorf("prefixed UniqueID = %q, want %q", p.UniqueID(), uid(want))
	}
	sel := MustParse(`a == "1"`).PrefixLabels("pcns.")
	if !sel.Evaluate(map[string]string{"pcns.a": "1"}) || sel.Evaluate(map[string]string{"a": "1"}) {
		t.Error(`prefixed selector does not match on the prefixed label only`)
	}
	if MustParse("all()").PrefixLabels("pcns.").String() != "all()" {
		t.Error("prefixing all() changed it")
	}
}

func TestAnd(t *testing.T) {
	if s := And(); !s.IsAll() || s.String() != "all()" {
		t.Errorf("And() = %q, want all()", s)
	}
	a, b := MustParse(`a == "1"`), MustParse(`b == "2" || c == "3"`)
	if s := And(MustParse(""), a, nil, MustParse("all()")); s.String() != a.String() {
		t.Errorf("And(all(), a, nil, all()) = %q, want %q", s, a)
	}
	s := And(a, MustParse("all()"), b)
	want := `(a == "1" && (b == "2" || c == "3"))`
	if s.String() != want {
		t.Errorf("And = %q, want %q", s, want)
	}
	if MustParse(s.String()).UniqueID() != s.UniqueID() {
		t.Errorf("And result %q does not round-trip", s)
	}
	for _, c := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"a": "1", "c": "3"}, true},
		{map[string]string{"a": "1"}, false},
		{map[string]string{"b": "2"}, false},
	} {
		if got := s.Evaluate(c.labels); got != c.want {
			t.Errorf("%q.Evaluate(%v) = %v, want %v", s, c.labels, got, c.want)
		}
	}
	// Nested conjunctions keep their grouping, like the parser does.
	nested := And(MustParse(`x == "1" && y == "2"`), a)
	if nested.String() != MustParse(`(x == "1" && y == "2") && a == "1"`).String() {
		t.Errorf("nested And = %q", nested)
	}
	// The typical namespace-selector rewrite.
	ns := And(MustParse(`team == "web"`).PrefixLabels("pcns."), MustParse(`app == "db"`))
	if ns.String() != `(pcns.team == "web" && app == "db")` {
		t.Errorf("namespace rewrite = %q", ns)
	}
}

func TestLabelNames(t *testing.T) {
	got := MustParse(`a == "1" && (has(b) || c in {"x"}) && !a != "2" && all() || d.e/f contains "g"`).LabelNames()
	if want := []string{"a", "b", "c", "d.e/f"}; !slices.Equal(got, want) {
		t.Errorf("LabelNames = %q, want %q", got, want)
	}
	if got := MustParse("all() || global()").LabelNames(); len(got) != 0 {
		t.Errorf("LabelNames of all() || global() = %q, want none", got)
	}
}

func TestUsesGlobalAndIsAll(t *testing.T) {
	for _, c := range []struct {
		sel         string
		global, all bool
	}{
		{``, false, true},
		{`all()`, false, true},
		{`((all()))`, false, true},
		{`!!all()`, false, true},
		{`!all()`, false, false},
		{`global()`, true, false},
		{`a == "b" || !global()`, true, false},
		{`global == "x"`, false, false},
		{`has(global)`, false, false},
	} {
		sel := MustParse(c.sel)
		if sel.UsesGlobal() != c.global || sel.IsAll() != c.all {
			t.Errorf("%q: UsesGlobal %v IsAll %v, want %v %v", c.sel, sel.UsesGlobal(), sel.IsAll(), c.global, c.all)
		}
	}
}

func TestZeroValueIsAll(t *testing.T) {
	var s Selector
	if !s.IsAll() || s.String() != "all()" || !s.Evaluate(nil) || !s.EvaluateLabels(Map(nil)) {
		t.Errorf("zero Selector is not all()")
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		r := recover()
		if _, ok := r.(*ParseError); !ok {
			t.Errorf("MustParse panicked with %v, want a *ParseError", r)
		}
	}()
	MustParse("a b")
}

// TestEvaluateDoesNotAllocate pins the promise that evaluation is free of
// allocations, for both label sources.
func TestEvaluateDoesNotAllocate(t *testing.T) {
	sel := MustParse(`(a == "b" || c in {"1","2","3","4","5","6","7","8","9"}) && !has(d) && e not in {"x"} && f starts with "g"`)
	labels := map[string]string{"a": "b", "e": "y", "f": "gh"}
	l := Map(labels)
	_ = sel.String()
	_ = sel.UniqueID()
	if n := testing.AllocsPerRun(100, func() {
		sel.Evaluate(labels)
		sel.EvaluateLabels(l)
		_ = sel.String()
		_ = sel.UniqueID()
	}); n != 0 {
		t.Errorf("Evaluate allocates %v times per call", n)
	}
}

// TestConcurrentUse exercises the lazily cached fields from many goroutines;
// run with -race to check the claim that a Selector is safe to share.
func TestConcurrentUse(t *testing.T) {
	sel := MustParse(`a == "b" && !c in {"d"}`)
	want := uid(`(a == "b" && !c in {"d"})`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if sel.UniqueID() != want || !sel.Evaluate(map[string]string{"a": "b"}) {
					t.Error("inconsistent result under concurrent use")
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestStandardLibraryOnly keeps the package free of dependencies.
func TestStandardLibraryOnly(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := goparser.ParseFile(fset, f, src, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s; the package must use only the standard library", f, path)
			}
		}
	}
}

func TestNestingLimits(t *testing.T) {
	accept := func(s string) {
		t.Helper()
		sel, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if again, err := Parse(sel.String()); err != nil || again.String() != sel.String() {
			t.Fatalf("canonical form does not round-trip: %v", err)
		}
	}
	reject := func(s string, pos int, msg string) {
		t.Helper()
		_, err := Parse(s)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Pos != pos || !strings.Contains(pe.Msg, msg) {
			t.Fatalf("Parse: error %v, want one at position %d containing %q", err, pos, msg)
		}
	}
	parens := func(n int) string { return strings.Repeat("(", n) + `a == "1"` + strings.Repeat(")", n) }
	accept(parens(MaxDepth))
	reject(parens(MaxDepth+1), MaxDepth, "expected at most 1000 nested parentheses, found more")

	// One && group per level of parentheses.
	ands := func(n int) string {
		return strings.Repeat(`a == "1" && (`, n) + `b == "2"` + strings.Repeat(")", n)
	}
	accept(ands(MaxDepth))
	reject(ands(MaxDepth+1), MaxDepth*len(`a == "1" && (`)+len(`a == "1" && `), "nested parentheses")

	// Two groups per level of parentheses: the groups, which are what the
	// canonical form puts in parentheses, hit the limit first.
	mixed := func(n int) string {
		return strings.Repeat(`a == "1" || b == "2" && (`, n) + `c == "3"` + strings.Repeat(")", n)
	}
	accept(mixed(MaxDepth / 2))
	reject(mixed(MaxDepth/2+1), len(`a == "1" || `), `expected at most 1000 nested "&&"/"||" groups, found more`)
}
