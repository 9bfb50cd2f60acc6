package selector

import "slices"

// Restriction is what a selector requires of one label for a match.
//
// A contradictory restriction (MustBePresent and MustBeAbsent both set, with
// no Values) cannot be satisfied: the selector matches nothing.
type Restriction struct {
	MustBePresent bool     // the label must be present (any value)
	MustBeAbsent  bool     // the label must be absent
	Values        []string // if non-empty: the label must have one of these values (sorted, deduped); implies MustBePresent
}

// Restrictions returns, per label, what every matching label set must
// satisfy. A label not in the map is unrestricted. It is conservative:
// a label set that violates a restriction never matches, but satisfying
// all restrictions does not imply a match. Impossible selectors may report
// contradictory restrictions (e.g. both present and absent), meaning "matches nothing".
//
// When Values is non-empty, MustBePresent is set too. The map and its slices
// belong to the caller; the result is computed afresh on every call, in time
// linear in the size of the selector (set operations aside).
//
// Indexes use the result to avoid evaluating a selector against label sets
// that cannot match it: a selector with `app == "web"` in every branch only
// needs to be evaluated against objects that have app=web.
func (s *Selector) Restrictions() map[string]Restriction {
	if len(s.nodes) == 0 {
		return map[string]Restriction{}
	}
	r := s.restrict(0, false)
	if r.labels == nil {
		return map[string]Restriction{}
	}
	return r.labels
}

// restriction is the result of analysing one subexpression: per-label
// restrictions, and whether the subexpression can never be true for reasons
// the map cannot express (!all()).
type restriction struct {
	labels map[string]Restriction // nil when empty
	never  bool
}

// impossible reports whether no label set can satisfy r.
func (r restriction) impossible() bool {
	if r.never {
		return true
	}
	for _, l := range r.labels {
		if l.MustBePresent && l.MustBeAbsent {
			return true
		}
	}
	return false
}

// contradiction is the restriction no label can satisfy.
var contradiction = Restriction{MustBePresent: true, MustBeAbsent: true}

// restrict analyses the subtree at node i; if negate is set, it analyses
// the negation of that subtree. Negations are pushed down to the leaves with
// De Morgan's laws, which only ever swaps && and ||, so the walk stays
// linear in the size of the tree.
func (s *Selector) restrict(i int, negate bool) restriction {
	n := s.nodes[i]
	switch n.op {
	case opAll, opGlobal:
		// all() restricts nothing; !all() matches nothing.
		return restriction{never: negate}
	case opNot:
		return s.restrict(i+1, !negate)
	case opAnd, opOr:
		conj := (n.op == opAnd) != negate
		var out restriction
		first := true
		for j, end := i+1, i+int(n.size); j < end; j += int(s.nodes[j].size) {
			kid := s.restrict(j, negate)
			switch {
			case first:
				out = kid
			case conj:
				out = and(out, kid)
			case kid.impossible():
				// A branch that can never be true adds nothing to an
				// "or"; if every branch is impossible, so is the "or",
				// and out keeps the first of them.
			case out.impossible():
				out = kid
			default:
				out = or(out, kid)
			}
			first = false
		}
		return out
	}
	l := &s.leaves[n.leaf]
	var r Restriction
	switch {
	case n.op == opHas && !negate:
		r.MustBePresent = true
	case n.op == opHas && negate:
		r.MustBeAbsent = true
	case (n.op == opEq && !negate) || (n.op == opNe && negate):
		// !(a != "x") is true only when a is present with value x.
		r.MustBePresent, r.Values = true, []string{l.value}
	case (n.op == opIn && !negate) || (n.op == opNotIn && negate):
		if len(l.set) == 0 {
			r = contradiction
		} else {
			r.MustBePresent, r.Values = true, slices.Clone(l.set)
		}
	case (n.op == opContains || n.op == opStartsWith || n.op == opEndsWith) && !negate:
		r.MustBePresent = true
	default:
		// a != "x", a not in {..}, and the negations of the positive
		// tests are all true when a is absent: no restriction.
		return restriction{}
	}
	return restriction{labels: map[string]Restriction{l.label: r}}
}

// and combines the restrictions of two operands of "&&": both must hold. It
// may reuse a's map.
func and(a, b restriction) restriction {
	if a.labels == nil {
		a.labels = make(map[string]Restriction, len(b.labels))
	}
	for k, rb := range b.labels {
		ra, ok := a.labels[k]
		if !ok {
			a.labels[k] = rb
			continue
		}
		a.labels[k] = andLabel(ra, rb)
	}
	a.never = a.never || b.never
	return a
}

func andLabel(a, b Restriction) Restriction {
	out := Restriction{
		MustBePresent: a.MustBePresent || b.MustBePresent,
		MustBeAbsent:  a.MustBeAbsent || b.MustBeAbsent,
	}
	switch {
	case len(a.Values) > 0 && len(b.Values) > 0:
		out.Values = intersect(a.Values, b.Values)
		if len(out.Values) == 0 {
			return contradiction
		}
	case len(a.Values) > 0:
		out.Values = a.Values
	case len(b.Values) > 0:
		out.Values = b.Values
	}
	if out.MustBePresent && out.MustBeAbsent {
		return contradiction
	}
	return out
}

// or combines the restrictions of two operands of "||", neither of which is
// impossible: a label stays restricted only if both operands restrict it,
// and then only by what both allow. It may reuse a's map.
func or(a, b restriction) restriction {
	for k, ra := range a.labels {
		rb, ok := b.labels[k]
		if !ok {
			delete(a.labels, k)
			continue
		}
		var out Restriction
		switch {
		case ra.MustBeAbsent && rb.MustBeAbsent:
			out.MustBeAbsent = true
		case ra.MustBePresent && rb.MustBePresent:
			out.MustBePresent = true
			if len(ra.Values) > 0 && len(rb.Values) > 0 {
				out.Values = union(ra.Values, rb.Values)
			}
		default:
			// One side needs the label, the other needs it absent.
			delete(a.labels, k)
			continue
		}
		a.labels[k] = out
	}
	if len(a.labels) == 0 {
		a.labels = nil
	}
	return a
}

// intersect returns the members of both sorted sets, as a new slice.
func intersect(a, b []string) []string {
	var out []string
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// union returns the members of either sorted set, as a new sorted slice.
func union(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
