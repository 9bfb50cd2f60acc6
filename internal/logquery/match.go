package logquery

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is what a field holds.
type Kind int

const (
	// String fields compare as text (byte order for < and >).
	String Kind = iota
	// Number fields compare numerically; values must be numbers.
	Number
	// List fields hold several strings (policies, labels): = and IN hold
	// when any element matches, != and NOTIN when none does; they have
	// no order.
	List
)

// Fields are the keys a log type may be queried by.
type Fields map[string]Kind

// Check validates a parsed query against the fields: known keys, numbers
// for numeric fields, no ordering of lists. q is the query text, for the
// error's position.
func Check(q string, n Node, fields Fields) error {
	for _, t := range Terms(n) {
		kind, ok := fields[t.Key]
		if !ok {
			keys := make([]string, 0, len(fields))
			for k := range fields {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return &Error{Query: q, Pos: t.Pos, Msg: fmt.Sprintf("unknown key %q; known keys: %s", t.Key, strings.Join(keys, ", "))}
		}
		switch kind {
		case Number:
			vals := t.Values
			if t.Op != In && t.Op != NotIn {
				vals = []string{t.Value}
			}
			for _, v := range vals {
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					return &Error{Query: q, Pos: t.Pos, Msg: fmt.Sprintf("%s is a number; %q is not one (wildcards are for text)", t.Key, v)}
				}
			}
		case List:
			switch t.Op {
			case Lt, Le, Gt, Ge:
				return &Error{Query: q, Pos: t.Pos, Msg: fmt.Sprintf("%s is a list; use =, !=, IN or NOTIN", t.Key)}
			}
		}
	}
	return nil
}

// Match evaluates a checked query against one record; get returns a
// field's values (one for String and Number fields, numbers written in
// decimal; any number for List fields; none when the record lacks it).
// A record without a field compares as the empty string (and as no
// number: every comparison but != is false).
func Match(n Node, fields Fields, get func(key string) []string) bool {
	switch n := n.(type) {
	case nil:
		return true
	case *And:
		for _, t := range n.Terms {
			if !Match(t, fields, get) {
				return false
			}
		}
		return true
	case *Or:
		for _, t := range n.Terms {
			if Match(t, fields, get) {
				return true
			}
		}
		return false
	case *Not:
		return !Match(n.X, fields, get)
	case *Term:
		return matchTerm(n, fields[n.Key], get(n.Key))
	}
	return false
}

func matchTerm(t *Term, kind Kind, vals []string) bool {
	switch t.Op {
	case Ne:
		return !matchTerm(&Term{Key: t.Key, Op: Eq, Value: t.Value}, kind, vals)
	case NotIn:
		return !matchTerm(&Term{Key: t.Key, Op: In, Values: t.Values}, kind, vals)
	}
	if kind != List {
		if len(vals) == 0 {
			vals = []string{""}
		}
		vals = vals[:1]
	}
	for _, v := range vals {
		if matchOne(t, kind, v) {
			return true
		}
	}
	return false
}

func matchOne(t *Term, kind Kind, v string) bool {
	if kind == Number {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		if t.Op == In {
			for _, w := range t.Values {
				if y, err := strconv.ParseFloat(w, 64); err == nil && x == y {
					return true
				}
			}
			return false
		}
		y, _ := strconv.ParseFloat(t.Value, 64)
		return compare(t.Op, cmpFloat(x, y))
	}
	if t.Op == In {
		for _, w := range t.Values {
			if Wildcard(w, v) {
				return true
			}
		}
		return false
	}
	return compare(t.Op, strings.Compare(v, t.Value))
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func compare(op Op, c int) bool {
	switch op {
	case Eq:
		return c == 0
	case Lt:
		return c < 0
	case Le:
		return c <= 0
	case Gt:
		return c > 0
	case Ge:
		return c >= 0
	}
	return false
}

// Wildcard matches s against a pattern where * is any run of characters
// and ? any one character; everything else matches itself.
func Wildcard(pattern, s string) bool {
	// The classic greedy algorithm with one backtrack point: linear in
	// practice, O(len(pattern)·len(s)) at worst.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if p < len(pattern) {
			pr, pn := utf8.DecodeRuneInString(pattern[p:])
			switch {
			case pr == '*':
				star, mark = p+pn, i
				p += pn
				continue
			case pr == '?' || pr == r:
				p += pn
				i += n
				continue
			}
		}
		if star < 0 {
			return false
		}
		// Let the last * take one more character.
		_, mn := utf8.DecodeRuneInString(s[mark:])
		mark += mn
		p, i = star, mark
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
