package selector

import (
	"testing"
)

// benchReference is the selector the reference implementation's parser
// benchmark uses.
const benchReference = `! (a == "b"&&! c != "d") || !(a == "b" && !c != "d")`

// benchLong is a realistic policy selector with sets.
const benchLong = `app.kubernetes.io/name in {"frontend", "backend", "api", "worker", "cache", "db"} && ` +
	`environment not in {"dev", "test"} && has(projectcalico.org/namespace) && ` +
	`!(tier == "legacy" || team starts with "tmp-") && version != "0"`

var parseBenches = []struct{ name, sel string }{
	{"reference", benchReference},
	{"simple", `a == "b"`},
	{"all", ``},
	{"long", benchLong},
}

var sink *Selector

func BenchmarkParse(b *testing.B) {
	for _, bc := range parseBenches {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := Parse(bc.sel)
				if err != nil {
					b.Fatal(err)
				}
				sink = s
			}
		})
	}
}

var boolSink bool

func BenchmarkEvaluate(b *testing.B) {
	pod := map[string]string{
		"app.kubernetes.io/name":      "api",
		"environment":                 "prod",
		"projectcalico.org/namespace": "shop",
		"tier":                        "web",
		"team":                        "payments",
		"version":                     "3",
		"a":                           "b",
	}
	cases := []struct {
		name, sel string
		want      bool
	}{
		{"eq/match", `a == "b"`, true},
		{"eq/nomatch", `a == "c"`, false},
		{"all", `all()`, true},
		{"reference/match", benchReference, true},
		{"reference/nomatch", `!(a == "b" && !c != "d") && has(zz)`, false},
		{"long/match", benchLong, true},
		{"long/nomatch", `environment in {"dev", "test"} && ` + benchLong, false},
		{"bigset/match", `tier in {"a","b","c","d","e","f","g","h","i","j","k","l","m","n","web"}`, true},
		{"bigset/nomatch", `tier in {"a","b","c","d","e","f","g","h","i","j","k","l","m","n","o"}`, false},
	}
	for _, c := range cases {
		sel := MustParse(c.sel)
		if sel.Evaluate(pod) != c.want {
			b.Fatalf("%q.Evaluate = %v, want %v", c.sel, !c.want, c.want)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				boolSink = sel.Evaluate(pod)
			}
		})
		b.Run(c.name+"/labels", func(b *testing.B) {
			l := Map(pod)
			b.ReportAllocs()
			for b.Loop() {
				boolSink = sel.EvaluateLabels(l)
			}
		})
	}
}

// BenchmarkParseAndString measures parsing plus the first, uncached String.
func BenchmarkParseAndString(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = MustParse(benchLong).String()
	}
}
