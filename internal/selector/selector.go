package selector

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"sync/atomic"
)

// Labels is a read-only view of an object's labels.
type Labels interface {
	// Get returns the value of label key and whether it is present.
	Get(key string) (value string, ok bool)
}

// Map is a plain label map that implements Labels.
type Map map[string]string

// Get returns the value of label key and whether it is present.
func (m Map) Get(key string) (string, bool) {
	v, ok := m[key]
	return v, ok
}

// op is the kind of a node in the expression tree.
type op uint8

const (
	opAll op = iota
	opGlobal
	opHas
	opEq
	opNe
	opContains
	opStartsWith
	opEndsWith
	opIn
	opNotIn
	opNot
	opAnd
	opOr
)

// opText is the canonical spelling of each comparison operator.
var opText = [...]string{
	opEq:         "==",
	opNe:         "!=",
	opContains:   "contains",
	opStartsWith: "starts with",
	opEndsWith:   "ends with",
	opIn:         "in",
	opNotIn:      "not in",
}

// hasLabel reports whether nodes of kind o test a label, and so have a leaf.
func (o op) hasLabel() bool { return o >= opHas && o <= opNotIn }

// node is one element of a selector's expression tree.
//
// The tree is stored in pre-order in a single slice: a node's operands follow
// it directly, and size (the number of nodes in its subtree, itself included)
// says where its next sibling starts. Sizes are relative, so a subtree can be
// copied into another tree unchanged, and walking the tree needs no pointers.
// Nodes hold no pointers either, so the garbage collector never scans them;
// the strings of label tests live in the separate leaves slice.
type node struct {
	op   op
	size int32 // nodes in this subtree, itself included
	leaf int32 // for ops with hasLabel: index into Selector.leaves
}

// leaf holds the operands of a label test.
type leaf struct {
	label string
	value string   // opEq, opNe, opContains, opStartsWith, opEndsWith
	set   []string // opIn, opNotIn: sorted, without duplicates
}

// Selector is a parsed selector. It is immutable and safe for concurrent use;
// the canonical form and unique ID are computed on first use and cached. The
// zero value is equivalent to all().
type Selector struct {
	nodes  []node // pre-order tree; empty means all()
	leaves []leaf // in the order they appear in the text; may be shared

	canon atomic.Pointer[string]
	uid   atomic.Pointer[string]
}

// MustParse is like Parse but panics if s is not a valid selector. It is
// meant for tests and for selectors that are constants in the program.
func MustParse(s string) *Selector {
	sel, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// Evaluate reports whether labels satisfy the selector. A nil map has no
// labels.
func (s *Selector) Evaluate(labels map[string]string) bool {
	if len(s.nodes) == 0 {
		return true
	}
	return s.evalMap(0, labels)
}

// EvaluateLabels reports whether l satisfies the selector.
func (s *Selector) EvaluateLabels(l Labels) bool {
	if len(s.nodes) == 0 {
		return true
	}
	return s.evalLabels(0, l)
}

// evalMap and evalLabels are the same walk over two kinds of label source;
// keeping the map version separate lets the compiler inline the map lookup
// instead of calling through an interface.
func (s *Selector) evalMap(i int, m map[string]string) bool {
	n := s.nodes[i]
	switch n.op {
	case opAll, opGlobal:
		return true
	case opNot:
		return !s.evalMap(i+1, m)
	case opAnd:
		for j, end := i+1, i+int(n.size); j < end; j += int(s.nodes[j].size) {
			if !s.evalMap(j, m) {
				return false
			}
		}
		return true
	case opOr:
		for j, end := i+1, i+int(n.size); j < end; j += int(s.nodes[j].size) {
			if s.evalMap(j, m) {
				return true
			}
		}
		return false
	}
	l := &s.leaves[n.leaf]
	v, ok := m[l.label]
	return l.test(n.op, v, ok)
}

func (s *Selector) evalLabels(i int, labels Labels) bool {
	n := s.nodes[i]
	switch n.op {
	case opAll, opGlobal:
		return true
	case opNot:
		return !s.evalLabels(i+1, labels)
	case opAnd:
		for j, end := i+1, i+int(n.size); j < end; j += int(s.nodes[j].size) {
			if !s.evalLabels(j, labels) {
				return false
			}
		}
		return true
	case opOr:
		for j, end := i+1, i+int(n.size); j < end; j += int(s.nodes[j].size) {
			if s.evalLabels(j, labels) {
				return true
			}
		}
		return false
	}
	l := &s.leaves[n.leaf]
	v, ok := labels.Get(l.label)
	return l.test(n.op, v, ok)
}

// test applies label test o to the value of the leaf's label; ok says whether
// the label is present. Negative comparisons are true for an absent label,
// positive ones false.
func (l *leaf) test(o op, v string, ok bool) bool {
	switch o {
	case opHas:
		return ok
	case opEq:
		return ok && v == l.value
	case opNe:
		return !ok || v != l.value
	case opContains:
		return ok && strings.Contains(v, l.value)
	case opStartsWith:
		return ok && strings.HasPrefix(v, l.value)
	case opEndsWith:
		return ok && strings.HasSuffix(v, l.value)
	case opIn:
		return ok && inSet(l.set, v)
	case opNotIn:
		return !ok || !inSet(l.set, v)
	}
	return false
}

// inSet reports whether v is in the sorted set.
func inSet(set []string, v string) bool {
	if len(set) <= 8 {
		for _, m := range set {
			if m == v {
				return true
			}
		}
		return false
	}
	_, found := slices.BinarySearch(set, v)
	return found
}

// String returns the canonical form of the selector (see the package
// documentation).
func (s *Selector) String() string {
	if c := s.canon.Load(); c != nil {
		return *c
	}
	c := "all()"
	if len(s.nodes) > 0 {
		var buf [256]byte
		c = string(s.appendNode(buf[:0], 0))
	}
	// Racing callers compute the same string; keeping either is fine.
	s.canon.Store(&c)
	return c
}

func (s *Selector) appendNode(b []byte, i int) []byte {
	n := s.nodes[i]
	switch n.op {
	case opAll:
		return append(b, "all()"...)
	case opGlobal:
		return append(b, "global()"...)
	case opNot:
		b = append(b, '!')
		return s.appendNode(b, i+1)
	case opAnd, opOr:
		sep := " && "
		if n.op == opOr {
			sep = " || "
		}
		b = append(b, '(')
		for j, end := i+1, i+int(n.size); j < end; j += int(s.nodes[j].size) {
			if j > i+1 {
				b = append(b, sep...)
			}
			b = s.appendNode(b, j)
		}
		return append(b, ')')
	}
	l := &s.leaves[n.leaf]
	switch n.op {
	case opHas:
		b = append(b, "has("...)
		b = append(b, l.label...)
		return append(b, ')')
	case opIn, opNotIn:
		b = append(b, l.label...)
		b = append(b, ' ')
		b = append(b, opText[n.op]...)
		b = append(b, " {"...)
		for k, m := range l.set {
			if k > 0 {
				b = append(b, ", "...)
			}
			b = appendQuoted(b, m)
		}
		return append(b, '}')
	}
	b = append(b, l.label...)
	b = append(b, ' ')
	b = append(b, opText[n.op]...)
	b = append(b, ' ')
	return appendQuoted(b, l.value)
}

// appendQuoted wraps v in double quotes, or in single quotes if v contains a
// double quote. The language has no escapes, so a parsed value never holds
// both kinds of quote.
func appendQuoted(b []byte, v string) []byte {
	q := byte('"')
	if strings.IndexByte(v, '"') >= 0 {
		q = '\''
	}
	b = append(b, q)
	b = append(b, v...)
	return append(b, q)
}

// UniqueID returns an ID that is equal for two selectors exactly when their
// canonical forms are equal: "s:" + base64url(SHA-224("s:" + String())),
// without padding. It is used to name IP sets and to de-duplicate selectors.
func (s *Selector) UniqueID() string {
	if u := s.uid.Load(); u != nil {
		return *u
	}
	sum := sha256.Sum224([]byte("s:" + s.String()))
	u := "s:" + base64.RawURLEncoding.EncodeToString(sum[:])
	s.uid.Store(&u)
	return u
}

// IsAll reports whether the selector is all() (or blank), after double
// negations and parentheses are removed. It does not try to prove that a
// more complex selector always matches.
func (s *Selector) IsAll() bool {
	return len(s.nodes) == 0 || s.nodes[0].op == opAll
}

// UsesGlobal reports whether global() appears anywhere in the selector.
func (s *Selector) UsesGlobal() bool {
	for _, n := range s.nodes {
		if n.op == opGlobal {
			return true
		}
	}
	return false
}

// LabelNames returns the distinct label names the selector refers to, in
// sorted order. The caller owns the returned slice.
func (s *Selector) LabelNames() []string {
	names := make([]string, len(s.leaves))
	for i := range s.leaves {
		names[i] = s.leaves[i].label
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// PrefixLabels returns a selector in which every label name has prefix in
// front of it; values, all() and global() are unchanged. Namespace and service
// account selectors are rewritten this way ("pcns.", "pcsa.") before they are
// combined with an endpoint selector. For the result's String to parse again,
// prefix must consist of label characters and the prefixed names must not be
// longer than MaxLabelLen.
func (s *Selector) PrefixLabels(prefix string) *Selector {
	if prefix == "" {
		return s
	}
	leaves := slices.Clone(s.leaves)
	for i := range leaves {
		leaves[i].label = prefix + leaves[i].label
	}
	return &Selector{nodes: s.nodes, leaves: leaves}
}

// And returns a selector that matches when all of sels match. Operands that
// are nil or all() are dropped; with no operands left the result is all(),
// with one it is that operand. Operands are kept as whole sub-expressions, so
// And(a, b).String() is "(" + a.String() + " && " + b.String() + ")", the
// same as parsing that text. The result nests one level deeper than its
// deepest operand; if that is more than MaxDepth its String does not parse.
func And(sels ...*Selector) *Selector {
	var only *Selector
	count, nodes, leaves := 0, 1, 0
	for _, s := range sels {
		if s == nil || s.IsAll() {
			continue
		}
		only = s
		count++
		nodes += len(s.nodes)
		leaves += len(s.leaves)
	}
	switch count {
	case 0:
		return &Selector{}
	case 1:
		return only
	}
	out := &Selector{
		nodes:  make([]node, 1, nodes),
		leaves: make([]leaf, 0, leaves),
	}
	out.nodes[0] = node{op: opAnd, size: int32(nodes)}
	for _, s := range sels {
		if s == nil || s.IsAll() {
			continue
		}
		base := int32(len(out.leaves))
		for _, n := range s.nodes {
			if n.op.hasLabel() {
				n.leaf += base
			}
			out.nodes = append(out.nodes, n)
		}
		out.leaves = append(out.leaves, s.leaves...)
	}
	return out
}
