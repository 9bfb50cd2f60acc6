package logquery

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "<nil>"},
		{"   ", "<nil>"},
		{"action=deny", "action = deny"},
		{`action = "deny"`, "action = deny"},
		{`dest_namespace="kube system"`, `dest_namespace = "kube system"`},
		{`"source name" != x`, `"source name" != x`},
		{"bytes_in>=100 and bytes_in<2e3", "bytes_in >= 100 AND bytes_in < 2e3"},
		{"a=1 OR b=2 AND c=3", "a = 1 OR b = 2 AND c = 3"},
		{"(a=1 OR b=2) AND c=3", "(a = 1 OR b = 2) AND c = 3"},
		{"((a=1 AND b=2) AND c=3)", "a = 1 AND b = 2 AND c = 3"},
		{"a=1 OR (b=2 OR c=3)", "a = 1 OR b = 2 OR c = 3"},
		{"NOT a=1", "NOT a = 1"},
		{"not (a=1 or b=2)", "NOT (a = 1 OR b = 2)"},
		{"NOT NOT a=1", "NOT NOT a = 1"},
		{"name IN {frontend-*, \"db ?\"}", `name IN {frontend-*, "db ?"}`},
		{"name notin {a}", "name NOTIN {a}"},
		{`x = "and"`, `x = "and"`},
		{`x = "a\"b\\c"`, `x = "a\"b\\c"`},
		{"ip = 10.0.0.0/8", "ip = 10.0.0.0/8"},
		{"policy = 0|default|default.allow|allow|0", "policy = 0|default|default.allow|allow|0"},
		{"name = é", "name = é"},
	} {
		n, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		got := "<nil>"
		if n != nil {
			got = n.String()
		}
		if got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in     string
		column int
		msg    string
	}{
		{"action", 7, "expected an operator (=, !=, <, <=, >, >=, IN, NOTIN) after key \"action\", found the end of the query"},
		{"action =", 9, `expected a value after "=", found the end of the query`},
		{"action = AND", 10, `expected a value after "=", found "AND"`},
		{"a=1 b=2", 5, `unexpected "b"; join terms with AND or OR`},
		{"a=1)", 4, `")" without a matching "("`},
		{"(a=1", 5, `expected ")" to close the "(" at column 1, found the end of the query`},
		{"()", 2, "empty parentheses"},
		{"a=1 AND", 8, "expected a term (key op value), found the end of the query"},
		{"a ! b", 3, `"!" must be followed by "=" (use NOT to negate)`},
		{"a = 'x'", 5, `strings are written in double quotes ("…")`},
		{`a = "x`, 5, "unterminated string"},
		{`a = "\q"`, 6, `unknown escape "\q" (use \", \\, \n or \t)`},
		{"a IN x", 6, `expected "{" to start the set after IN, found "x"`},
		{"a IN {}", 6, "an empty set"},
		{"a IN {x y}", 9, `expected "," or "}" in the set opened at column 6, found "y"`},
		{"a IN {x,}", 9, `expected a value in the set, found "}"`},
		{"= x", 1, `expected a key, found "="`},
		{"AND = x", 1, `expected a key, found "AND"`},
		{`"" = x`, 1, "empty key"},
		{strings.Repeat("(", MaxDepth+1) + "a=1" + strings.Repeat(")", MaxDepth+1), MaxDepth + 1, "nested more than 100 deep"},
	} {
		_, err := Parse(tc.in)
		var qe *Error
		if !errors.As(err, &qe) {
			t.Errorf("Parse(%q): error %v, want a *Error", tc.in, err)
			continue
		}
		want := (&Error{Query: tc.in, Pos: columnToPos(tc.in, tc.column), Msg: tc.msg}).Error()
		if err.Error() != want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tc.in, err, want)
		}
	}
}

func columnToPos(s string, col int) int {
	r := []rune(s)
	return len(string(r[:min(col-1, len(r))]))
}

var flowFields = Fields{"action": String, "dest_namespace": String, "dest_port": Number, "bytes_in": Number,
	"policies": List, "name": String}

func TestCheck(t *testing.T) {
	for _, tc := range []struct{ q, err string }{
		{"action = deny AND dest_port > 1000", ""},
		{"policies = \"0|default|default.a|allow|0\"", ""},
		{"policies IN {\"*|allow|*\"}", ""},
		{"dest_port IN {80, 443}", ""},
		{"colour = red", `unknown key "colour"; known keys: action, bytes_in, dest_namespace, dest_port, name, policies`},
		{"action = deny AND dest_port > high", `dest_port is a number; "high" is not one (wildcards are for text)`},
		{"dest_port IN {80, 8*}", `dest_port is a number; "8*" is not one (wildcards are for text)`},
		{"policies > a", "policies is a list; use =, !=, IN or NOTIN"},
	} {
		n, err := Parse(tc.q)
		if err != nil {
			t.Fatalf("%q: %v", tc.q, err)
		}
		err = Check(tc.q, n, flowFields)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.HasSuffix(err.Error(), tc.err)) {
			t.Errorf("Check(%q) = %v, want %q", tc.q, err, tc.err)
		}
	}
}

func TestMatch(t *testing.T) {
	rec := map[string][]string{
		"action": {"deny"}, "dest_namespace": {"kube-system"}, "dest_port": {"443"}, "bytes_in": {"1500"},
		"policies": {"0|default|default.a|pass|0", "1|default|demo/default.b|deny|-1"},
	}
	get := func(k string) []string { return rec[k] }
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"", true},
		{"action = deny", true},
		{"action != deny", false},
		{"action = Deny", false},
		{"dest_port = 443.0", true},
		{"dest_port > 80 AND dest_port < 1000", true},
		{"dest_port >= 444", false},
		{"bytes_in > 999", true}, // numerically, not as text
		{"dest_namespace IN {kube-*}", true},
		{"dest_namespace IN {kube-?}", false},
		{"dest_namespace NOTIN {default, kube-system}", false},
		{"dest_namespace < l", true},
		{`policies = "1|default|demo/default.b|deny|-1"`, true},
		{"policies IN {*|deny|*}", true},
		{"policies NOTIN {*|deny|*}", false},
		{"policies != x", true},
		{"name = \"\"", true}, // missing: the empty string
		{"name != \"\"", false},
		{"name IN {*}", true},
		{"NOT (action = allow OR dest_port = 80) AND dest_namespace = kube-system", true},
		{"action = allow OR dest_port = 443", true},
	} {
		n, err := Parse(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(tc.q, n, flowFields); err != nil {
			t.Fatal(err)
		}
		if got := Match(n, flowFields, get); got != tc.want {
			t.Errorf("Match(%q) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestWildcard(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"", "", true}, {"", "a", false}, {"*", "", true}, {"*", "abc", true},
		{"a*", "abc", true}, {"*c", "abc", true}, {"a*c", "ac", true}, {"a*c", "abcbc", true},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"?", "é", true}, {"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false}, {"*a*a*a*b", strings.Repeat("a", 50), false},
	} {
		if got := Wildcard(tc.p, tc.s); got != tc.want {
			t.Errorf("Wildcard(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

// FuzzParse: no input panics; what parses renders to text that parses
// to the same tree.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"a=1", "NOT (a IN {x*, \"y z\"} OR b >= 2) AND c != \"\\\"\"", "((a=1))", "a NOTIN {?}", "x = é AND y = \"\\n\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := Parse(q)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) || qe.Pos < 0 || qe.Pos > len(q) {
				t.Fatalf("Parse(%q): error %v without a position in the query", q, err)
			}
			return
		}
		if n == nil {
			if strings.TrimFunc(q, unicode.IsSpace) != "" {
				t.Fatalf("Parse(%q) = nil for a non-empty query", q)
			}
			return
		}
		s := n.String()
		m, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse: %v", q, s, err)
		}
		if m.String() != s {
			t.Fatalf("round trip of %q: %s then %s", q, s, m.String())
		}
	})
}

// FuzzWildcard: Wildcard agrees with the regular expression the pattern
// stands for.
func FuzzWildcard(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 64 || len(s) > 256 {
			return
		}
		var re strings.Builder
		re.WriteString("^(?s:")
		for _, r := range p {
			switch r {
			case '*':
				re.WriteString(".*")
			case '?':
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString(")$")
		want := regexp.MustCompile(re.String()).MatchString(s)
		if got := Wildcard(p, s); got != want {
			t.Fatalf("Wildcard(%q, %q) = %v, regexp %s says %v", p, s, got, re.String(), want)
		}
	})
}
