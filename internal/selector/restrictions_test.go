package selector

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Shorthands for expected restrictions.
var (
	present = Restriction{MustBePresent: true}
	absent  = Restriction{MustBeAbsent: true}
	never   = Restriction{MustBePresent: true, MustBeAbsent: true}
)

func oneOf(vs ...string) Restriction { return Restriction{MustBePresent: true, Values: vs} }

type restrictionMap = map[string]Restriction

func TestRestrictions(t *testing.T) {
	for _, c := range []struct {
		sel  string
		want restrictionMap
	}{
		// Each operator on its own.
		{``, restrictionMap{}},
		{`all()`, restrictionMap{}},
		{`global()`, restrictionMap{}},
		{`a == "x"`, restrictionMap{"a": oneOf("x")}},
		{`a == ""`, restrictionMap{"a": oneOf("")}},
		{`a in {"y", "x", "y"}`, restrictionMap{"a": oneOf("x", "y")}},
		{`a in {}`, restrictionMap{"a": never}},
		{`has(a)`, restrictionMap{"a": present}},
		{`a contains "x"`, restrictionMap{"a": present}},
		{`a starts with "x"`, restrictionMap{"a": present}},
		{`a ends with "x"`, restrictionMap{"a": present}},
		{`!has(a)`, restrictionMap{"a": absent}},
		{`a != "x"`, restrictionMap{}},
		{`a not in {"x", "y"}`, restrictionMap{}},
		{`a not in {}`, restrictionMap{}},

		// Negated leaves: only the ones that need the label restrict it.
		{`!a == "x"`, restrictionMap{}},
		{`!a in {"x"}`, restrictionMap{}},
		{`!a contains "x"`, restrictionMap{}},
		{`!a != "x"`, restrictionMap{"a": oneOf("x")}},
		{`!a not in {"y", "x"}`, restrictionMap{"a": oneOf("x", "y")}},
		{`!a not in {}`, restrictionMap{"a": never}},
		{`!!has(a)`, restrictionMap{"a": present}},
		{`!(!has(a))`, restrictionMap{"a": present}},
		{`!!!has(a)`, restrictionMap{"a": absent}},

		// AND combines per label.
		{`a == "x" && b == "y"`, restrictionMap{"a": oneOf("x"), "b": oneOf("y")}},
		{`has(a) && a == "x"`, restrictionMap{"a": oneOf("x")}},
		{`a in {"x", "y", "z"} && a in {"w", "y", "z"}`, restrictionMap{"a": oneOf("y", "z")}},
		{`a == "x" && a == "y"`, restrictionMap{"a": never}},
		{`has(a) && !has(a)`, restrictionMap{"a": never}},
		{`a == "x" && !has(a)`, restrictionMap{"a": never}},
		{`!has(a) && !has(a)`, restrictionMap{"a": absent}},
		{`has(a) && a != "x" && !has(b)`, restrictionMap{"a": present, "b": absent}},
		{`all() && has(a)`, restrictionMap{"a": present}},

		// OR keeps only what every branch requires.
		{`a == "x" || a == "y"`, restrictionMap{"a": oneOf("x", "y")}},
		{`a in {"x", "z"} || a in {"y", "z"}`, restrictionMap{"a": oneOf("x", "y", "z")}},
		{`a == "x" || has(a)`, restrictionMap{"a": present}},
		{`a == "x" || b == "y"`, restrictionMap{}},
		{`has(a) || !has(a)`, restrictionMap{}},
		{`!has(a) || !has(a)`, restrictionMap{"a": absent}},
		{`a == "x" || a != "y"`, restrictionMap{}},
		{`(a == "x" && b == "1") || (a == "y" && c == "2")`, restrictionMap{"a": oneOf("x", "y")}},
		{`has(a) || all()`, restrictionMap{}},

		// A branch that cannot match is dropped from an OR.
		{`(a == "x" && a == "y") || b == "z"`, restrictionMap{"b": oneOf("z")}},
		{`!all() || has(a)`, restrictionMap{"a": present}},
		{`a in {} || !global() || c == "1"`, restrictionMap{"c": oneOf("1")}},
		{`a in {} || b in {}`, restrictionMap{"a": never}},

		// NOT of compound expressions: De Morgan.
		{`!(has(a) || has(b))`, restrictionMap{"a": absent, "b": absent}},
		{`!(!has(a) || has(b))`, restrictionMap{"a": present, "b": absent}},
		{`!(a != "x" || b not in {"1", "2"})`, restrictionMap{"a": oneOf("x"), "b": oneOf("1", "2")}},
		{`!(has(a) && has(b))`, restrictionMap{}},
		{`!(!has(a) && !has(b))`, restrictionMap{}},
		{`!(!has(a) && !a == "x")`, restrictionMap{"a": present}},
		{`!(a == "x")`, restrictionMap{}},
		{`!(a != "x" && a != "y")`, restrictionMap{"a": oneOf("x", "y")}},
		{`!(!(has(a) && b == "1"))`, restrictionMap{"a": present, "b": oneOf("1")}},

		// Restricting a label that also appears in a prefixed form.
		{`pcns.team == "a" && has(app)`, restrictionMap{"pcns.team": oneOf("a"), "app": present}},
	} {
		sel := MustParse(c.sel)
		got := sel.Restrictions()
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q.Restrictions() = %v, want %v", c.sel, got, c.want)
		}
	}
}

// TestRestrictionsAreTheCallersToChange checks that the result does not
// share memory with the selector.
func TestRestrictionsAreTheCallersToChange(t *testing.T) {
	sel := MustParse(`a in {"x", "y"}`)
	r := sel.Restrictions()
	r["a"].Values[0] = "changed"
	if !sel.Evaluate(map[string]string{"a": "x"}) || sel.String() != `a in {"x", "y"}` {
		t.Fatalf("changing the result of Restrictions changed the selector to %s", sel)
	}
	if got := sel.Restrictions()["a"].Values; !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("second call returned %v", got)
	}
}

// satisfies reports whether labels meet every restriction in r, and if not
// which label fails.
func satisfies(r map[string]Restriction, labels map[string]string) (string, bool) {
	for k, want := range r {
		v, ok := labels[k]
		switch {
		case want.MustBePresent && !ok, want.MustBeAbsent && ok:
			return k, false
		case len(want.Values) > 0 && !slices.Contains(want.Values, v):
			return k, false
		}
	}
	return "", true
}

// checkConservative fails if sel matches a label set that its restrictions
// rule out, or if its restrictions are malformed.
func checkConservative(t *testing.T, sel *Selector, labels []map[string]string) {
	t.Helper()
	r := sel.Restrictions()
	for k, want := range r {
		if len(want.Values) > 0 && (!want.MustBePresent || want.MustBeAbsent ||
			!slices.IsSorted(want.Values) || len(slices.Compact(slices.Clone(want.Values))) != len(want.Values)) {
			t.Fatalf("%s: restriction on %q is malformed: %+v", sel, k, want)
		}
		if !want.MustBePresent && !want.MustBeAbsent {
			t.Fatalf("%s: restriction on %q restricts nothing: %+v", sel, k, want)
		}
	}
	for _, l := range labels {
		if !sel.Evaluate(l) {
			continue
		}
		if k, ok := satisfies(r, l); !ok {
			t.Fatalf("%s matches %v, but its restriction on %q (%+v) rules that out", sel, l, k, r[k])
		}
	}
}

// randomLabels returns label sets over a small alphabet, so that random
// selectors match a good share of them.
func randomLabels(rng *rand.Rand, n int) []map[string]string {
	keys := []string{"a", "b", "c", "in", "contains"}
	vals := []string{"", "x", "y", "a1", "b1", `"`}
	out := slices.Clone(fuzzLabels)
	for range n {
		l := map[string]string{}
		for _, k := range keys {
			if rng.IntN(2) == 0 {
				l[k] = vals[rng.IntN(len(vals))]
			}
		}
		out = append(out, l)
	}
	return out
}

// randomSelector builds a random selector text over the same alphabet,
// using every operator of the language.
func randomSelector(rng *rand.Rand, depth int) string {
	keys := []string{"a", "b", "c", "in", "contains"}
	vals := []string{`""`, `"x"`, `"y"`, `"a1"`, `'"'`}
	k := keys[rng.IntN(len(keys))]
	v := vals[rng.IntN(len(vals))]
	set := func() string {
		var m []string
		for range rng.IntN(3) {
			m = append(m, vals[rng.IntN(len(vals))])
		}
		return "{" + strings.Join(m, ", ") + "}"
	}
	choice := rng.IntN(14)
	if depth <= 0 {
		choice %= 10
	}
	switch choice {
	case 0:
		return k + " == " + v
	case 1:
		return k + " != " + v
	case 2:
		return k + " in " + set()
	case 3:
		return k + " not in " + set()
	case 4:
		return "has(" + k + ")"
	case 5:
		return "!has(" + k + ")"
	case 6:
		return k + []string{" contains ", " starts with ", " ends with "}[rng.IntN(3)] + v
	case 7:
		return []string{"all()", "global()", "!all()"}[rng.IntN(3)]
	case 8:
		return "!" + k + " == " + v
	case 9:
		return k + " == " + v
	case 10:
		return "!(" + randomSelector(rng, depth-1) + ")"
	case 11, 12:
		return "(" + randomSelector(rng, depth-1) + " && " + randomSelector(rng, depth-1) + ")"
	default:
		return "(" + randomSelector(rng, depth-1) + " || " + randomSelector(rng, depth-1) + ")"
	}
}

// TestRestrictionsAreConservative is the property the indexes rely on: a
// label set that a selector matches always satisfies its restrictions.
func TestRestrictionsAreConservative(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	labels := randomLabels(rng, 300)
	for _, c := range evalCases {
		sel := MustParse(c.sel)
		checkConservative(t, sel, append(labels, c.labels))
	}
	for _, s := range []string{benchReference, benchLong, `!(!(a == "b" || !c in {}))`, `! (has( b)||! has(a ))`} {
		checkConservative(t, MustParse(s), labels)
	}
	restricted := 0
	for range 5000 {
		src := randomSelector(rng, 4)
		sel, err := Parse(src)
		if err != nil {
			t.Fatalf("generated selector %q does not parse: %v", src, err)
		}
		checkConservative(t, sel, labels)
		if len(sel.Restrictions()) > 0 {
			restricted++
		}
	}
	// The property holds trivially for a function that restricts nothing;
	// make sure that is not what is being tested.
	if restricted < 1000 {
		t.Fatalf("only %d of 5000 random selectors have restrictions", restricted)
	}
}

// TestRestrictionsOfImpossibleSelectors checks that a selector reported as
// contradictory really matches nothing we can find.
func TestRestrictionsOfImpossibleSelectors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	labels := randomLabels(rng, 300)
	contradictory := 0
	for range 5000 {
		sel := MustParse(randomSelector(rng, 3))
		impossible := false
		for _, r := range sel.Restrictions() {
			impossible = impossible || (r.MustBePresent && r.MustBeAbsent)
		}
		if !impossible {
			continue
		}
		contradictory++
		for _, l := range labels {
			if sel.Evaluate(l) {
				t.Fatalf("%s is reported impossible but matches %v", sel, l)
			}
		}
	}
	if contradictory == 0 {
		t.Fatal("no random selector was reported impossible")
	}
}

func FuzzRestrictions(f *testing.F) {
	for _, c := range evalCases {
		f.Add(c.sel)
	}
	f.Add(`!(has(a) || a == "x") || (b in {"1"} && !b != "2")`)
	labels := randomLabels(rand.New(rand.NewPCG(5, 6)), 100)
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			return
		}
		checkConservative(t, sel, labels)
	})
}

func ExampleSelector_Restrictions() {
	sel := MustParse(`(app == "web" || app == "api") && !has(legacy) && tier != "db"`)
	r := sel.Restrictions()
	fmt.Printf("app: %+v\n", r["app"])
	fmt.Printf("legacy: %+v\n", r["legacy"])
	_, ok := r["tier"]
	fmt.Println("tier restricted:", ok)
	// Output:
	// app: {MustBePresent:true MustBeAbsent:false Values:[api web]}
	// legacy: {MustBePresent:false MustBeAbsent:true Values:[]}
	// tier restricted: false
}
