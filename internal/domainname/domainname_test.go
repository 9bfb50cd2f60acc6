package domainname

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, norm, err string }{
		{"example.com", "example.com", ""},
		{"Example.COM.", "example.com", ""},
		{"*.example.com", "*.example.com", ""},
		{"www.*.com", "", "must be the first label"},
		{"a.*.b", "", "must be the first label"},
		{"example.*", "", "must be the first label"},
		{"_sip._tcp.example.com", "_sip._tcp.example.com", ""},
		{"", "", "empty domain name"},
		{"*", "", "would match every name"},
		{"*.*.com", "", "more than one"},
		{"a*.example.com", "", `"*" must be a whole label`},
		{"a..b", "", "an empty label"},
		{".a.b", "", "an empty label"},
		{"-a.b", "", "starts or ends with a hyphen"},
		{"a b.com", "", `has ' '`},
		{"a/b.com", "", `has '/'`},
		{strings.Repeat("a", 64) + ".com", "", "longer than 63"},
		{strings.Repeat("a.", 127) + "com", "", "longer than the 253"},
	} {
		p, err := Parse(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one saying %q", tc.in, err, tc.err)
		case tc.err == "" && p.String() != tc.norm:
			t.Errorf("%q normalises to %q, want %q", tc.in, p, tc.norm)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		yes, no []string
	}{
		{"example.com", []string{"example.com", "EXAMPLE.com.", "example.com."}, []string{"www.example.com", "example.co", "xexample.com"}},
		{"*.example.com", []string{"www.example.com", "a.b.example.com", "WWW.Example.Com."}, []string{"example.com", "www.example.org", "wwwexample.com"}},
		{"*.a.b.example.com", []string{"x.a.b.example.com", "x.y.a.b.example.com"}, []string{"a.b.example.com", "x.b.example.com"}},
	} {
		p, err := Parse(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tc.yes {
			if !p.Match(n) {
				t.Errorf("%s does not match %s", tc.pattern, n)
			}
		}
		for _, n := range tc.no {
			if p.Match(n) {
				t.Errorf("%s matches %s", tc.pattern, n)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"example.com", "*.example.com", "a.*.b", "a..b", "*"} {
		f.Add(s, "www.example.com")
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		p, err := Parse(pattern)
		if err != nil {
			return
		}
		// The normal form parses to itself, and matches what the
		// pattern matches.
		q, err := Parse(p.String())
		if err != nil || q.String() != p.String() || q.Match(name) != p.Match(name) {
			t.Fatalf("%q: normal form %q reparses as %q (%v)", pattern, p, q, err)
		}
		// A name without a wildcard matches itself.
		if !p.Wildcard() && !p.Match(pattern) {
			t.Fatalf("%q does not match itself", pattern)
		}
	})
}
