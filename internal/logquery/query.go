// Package logquery is the query language of Linseed's `selector` and of
// GlobalAlert queries (Calico Enterprise's): comparisons `key op value`
// with = != < <= > >=, set membership `key IN {a, b*}` and `key NOTIN
// {…}` with * and ? wildcards, joined by AND, OR and NOT and grouped by
// parentheses. AND binds tighter than OR; keywords are case-insensitive.
//
// Parse turns text into a tree (errors carry the position); Check
// validates the keys and values against a log type's fields; Match
// evaluates a tree against one record. The stores translate checked
// trees into their own SQL (linseed/store). It is pure logic.
package logquery

import (
	"strconv"
	"strings"
)

// Op is a term's operator.
type Op int

// Operators.
const (
	Eq Op = iota
	Ne
	Lt
	Le
	Gt
	Ge
	In
	NotIn
)

var opText = [...]string{Eq: "=", Ne: "!=", Lt: "<", Le: "<=", Gt: ">", Ge: ">=", In: "IN", NotIn: "NOTIN"}

func (o Op) String() string {
	if o >= 0 && int(o) < len(opText) {
		return opText[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Node is a query tree: *And, *Or, *Not or *Term. A nil Node (from an
// empty query) matches everything.
type Node interface {
	// String renders the node so that Parse gives the same tree back.
	String() string
	node()
}

// And holds when every term does.
type And struct{ Terms []Node }

// Or holds when any term does.
type Or struct{ Terms []Node }

// Not holds when X does not.
type Not struct{ X Node }

// Term compares a field with a value (Value), or tests it against a set
// (Values, for In and NotIn; members may hold * and ? wildcards).
type Term struct {
	Key    string
	Op     Op
	Value  string
	Values []string
	// Pos is the byte offset of the key in the query, for errors.
	Pos int
}

func (*And) node()  {}
func (*Or) node()   {}
func (*Not) node()  {}
func (*Term) node() {}

func (a *And) String() string { return join(a.Terms, " AND ", true) }
func (o *Or) String() string  { return join(o.Terms, " OR ", false) }

// An Or inside an And needs parentheses; an And inside an Or does not.
func join(ns []Node, sep string, and bool) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		s := n.String()
		if _, isOr := n.(*Or); isOr && and {
			s = "(" + s + ")"
		}
		parts[i] = s
	}
	return strings.Join(parts, sep)
}

func (n *Not) String() string {
	switch n.X.(type) {
	case *Term, *Not:
		return "NOT " + n.X.String()
	}
	return "NOT (" + n.X.String() + ")"
}

func (t *Term) String() string {
	if t.Op == In || t.Op == NotIn {
		vs := make([]string, len(t.Values))
		for i, v := range t.Values {
			vs[i] = quote(v)
		}
		return quote(t.Key) + " " + t.Op.String() + " {" + strings.Join(vs, ", ") + "}"
	}
	return quote(t.Key) + " " + t.Op.String() + " " + quote(t.Value)
}

// quote leaves a word bare when it reads back as the same word, else
// writes it as a double-quoted string.
func quote(s string) string {
	if s != "" && !keyword(s) {
		bare := true
		for _, r := range s {
			if !wordRune(r) {
				bare = false
				break
			}
		}
		if bare {
			return s
		}
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func keyword(s string) bool {
	switch strings.ToUpper(s) {
	case "AND", "OR", "NOT", "IN", "NOTIN":
		return true
	}
	return false
}

// Terms lists the tree's terms, in query order.
func Terms(n Node) []*Term {
	var out []*Term
	var walk func(Node)
	walk = func(n Node) {
		switch n := n.(type) {
		case *And:
			for _, t := range n.Terms {
				walk(t)
			}
		case *Or:
			for _, t := range n.Terms {
				walk(t)
			}
		case *Not:
			walk(n.X)
		case *Term:
			out = append(out, n)
		}
	}
	walk(n)
	return out
}
