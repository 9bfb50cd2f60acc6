package store

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/logquery"
)

// Dialect is the SQL a backend speaks.
type Dialect int

// Dialects.
const (
	SQLite Dialect = iota
	ClickHouse
)

// The columns every table has besides the type's.
const (
	ColCluster = "_cluster"
	ColTime    = "_time"
	ColID      = "_id"
	ColExtra   = "_extra"
	// ColNulls (ClickHouse) lists the indexes of the columns a record has
	// no value for: ClickHouse's columns are not Nullable (a null map
	// per column makes inserts several times slower), so a missing
	// value is stored as "" or 0 and named here.
	ColNulls = "_nulls"
)

// present is the ClickHouse condition "the record has column i".
func present(i int) string {
	return fmt.Sprintf("NOT has(%s, %d)", ColNulls, i)
}

// SQL builds the SQL of queries over one type's table in one dialect.
// Conditions are written so that they never evaluate to NULL (a record
// without a field compares as the query language says: as "", or as no
// number), and so that SQLite can use its indexes for the positive,
// non-empty comparisons the console makes.
type SQL struct {
	D Dialect
	T *logtype.Type
}

// Where is the condition of a query (cluster, time range, selector) and
// its arguments; with after, also the keyset condition of the page.
func (s SQL) Where(q Query, after bool) (string, []any, error) {
	var parts []string
	args := []any{q.Cluster}
	parts = append(parts, ColCluster+" = ?")
	if !q.From.IsZero() {
		parts = append(parts, ColTime+" >= ?")
		args = append(args, q.From.UnixMilli())
	}
	if !q.To.IsZero() {
		parts = append(parts, ColTime+" < ?")
		args = append(args, q.To.UnixMilli())
	}
	if q.Where != nil {
		w := &where{SQL: s}
		cond, err := w.node(q.Where, false)
		if err != nil {
			return "", nil, err
		}
		parts = append(parts, cond)
		args = append(args, w.args...)
	}
	if after && q.After != nil {
		cond, cargs, err := s.keyset(q)
		if err != nil {
			return "", nil, err
		}
		parts = append(parts, cond)
		args = append(args, cargs...)
	}
	return strings.Join(parts, " AND "), args, nil
}

type where struct {
	SQL
	args []any
}

func (w *where) node(n logquery.Node, neg bool) (string, error) {
	switch n := n.(type) {
	case *logquery.And:
		return w.join(n.Terms, " AND ", neg)
	case *logquery.Or:
		return w.join(n.Terms, " OR ", neg)
	case *logquery.Not:
		x, err := w.node(n.X, !neg)
		if err != nil {
			return "", err
		}
		return "NOT " + x, nil
	case *logquery.Term:
		return w.term(n, neg)
	}
	return "", fmt.Errorf("%w: unknown query node %T", ErrBadQuery, n)
}

func (w *where) join(ns []logquery.Node, sep string, neg bool) (string, error) {
	parts := make([]string, len(ns))
	for i, n := range ns {
		p, err := w.node(n, neg)
		if err != nil {
			return "", err
		}
		parts[i] = p
	}
	return "(" + strings.Join(parts, sep) + ")", nil
}

var sqlOps = map[logquery.Op]string{logquery.Eq: "=", logquery.Lt: "<", logquery.Le: "<=", logquery.Gt: ">", logquery.Ge: ">="}

// term is one comparison. neg says an odd number of NOTs surround it:
// then a NULL must not leak out of the comparison.
//
// ClickHouse 18's logical functions do not follow SQL's three-valued
// logic with NULLs, so there every comparison is made NULL-free.
func (w *where) term(t *logquery.Term, neg bool) (string, error) {
	if w.D == ClickHouse {
		neg = true
	}
	c, ok := w.T.Column(t.Key)
	if !ok {
		return "", fmt.Errorf("%w: unknown field %q", ErrBadQuery, t.Key)
	}
	switch t.Op {
	case logquery.Ne:
		pos, err := w.term(&logquery.Term{Key: t.Key, Op: logquery.Eq, Value: t.Value}, !neg)
		return "NOT " + pos, err
	case logquery.NotIn:
		pos, err := w.term(&logquery.Term{Key: t.Key, Op: logquery.In, Values: t.Values}, !neg)
		return "NOT " + pos, err
	}
	col := Ident(c.Name)
	switch c.Kind {
	case logtype.Text:
		if t.Op == logquery.In {
			var ors []string
			for _, v := range t.Values {
				if strings.ContainsAny(v, "*?") {
					ors = append(ors, w.glob("COALESCE("+col+", '')"))
					w.args = append(w.args, w.pattern(v))
					continue
				}
				ors = append(ors, w.textEq(col, v, neg))
			}
			return "(" + strings.Join(ors, " OR ") + ")", nil
		}
		if t.Op == logquery.Eq {
			return w.textEq(col, t.Value, neg), nil
		}
		w.args = append(w.args, t.Value)
		return fmt.Sprintf("(COALESCE(%s, '') %s ?)", col, sqlOps[t.Op]), nil
	case logtype.Int, logtype.Float:
		vals := t.Values
		if t.Op != logquery.In {
			vals = []string{t.Value}
		}
		for _, v := range vals {
			// An integer is compared as one (a float would lose the
			// last digits of a large one, such as a time in ns).
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				w.args = append(w.args, n)
				continue
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return "", fmt.Errorf("%w: %s is a number; %q is not one", ErrBadQuery, t.Key, v)
			}
			if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				w.args = append(w.args, int64(f))
			} else {
				w.args = append(w.args, f)
			}
		}
		var cond string
		if t.Op == logquery.In {
			cond = fmt.Sprintf("%s IN (%s)", col, strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", "))
		} else {
			cond = fmt.Sprintf("%s %s ?", col, sqlOps[t.Op])
		}
		return w.nullSafe(cond, neg, t.Key), nil
	case logtype.Bool:
		vals := t.Values
		if t.Op != logquery.In {
			if t.Op != logquery.Eq {
				return "", fmt.Errorf("%w: %s is true or false; use =, !=, IN or NOTIN", ErrBadQuery, t.Key)
			}
			vals = []string{t.Value}
		}
		var ors []string
		for _, v := range vals {
			switch strings.ToLower(v) {
			case "true":
				w.args = append(w.args, 1)
			case "false":
				w.args = append(w.args, 0)
			default:
				return "", fmt.Errorf("%w: %s is true or false, not %q", ErrBadQuery, t.Key, v)
			}
			ors = append(ors, col+" = ?")
		}
		return w.nullSafe("("+strings.Join(ors, " OR ")+")", neg, t.Key), nil
	case logtype.List:
		vals := t.Values
		if t.Op == logquery.Eq {
			vals = []string{t.Value}
		} else if t.Op != logquery.In {
			return "", fmt.Errorf("%w: %s is a list; use =, !=, IN or NOTIN", ErrBadQuery, t.Key)
		}
		return w.listAny(col, vals), nil
	}
	return "", fmt.Errorf("%w: %s cannot be queried", ErrBadQuery, t.Key)
}

// textEq: the column equals v (a missing value equals "").
func (w *where) textEq(col, v string, neg bool) string {
	w.args = append(w.args, v)
	if !neg && v != "" {
		return col + " = ?"
	}
	return "(COALESCE(" + col + ", '') = ?)"
}

// nullSafe makes a comparison of a number or boolean false when the
// record has no value.
func (w *where) nullSafe(cond string, neg bool, path string) string {
	if w.D == ClickHouse {
		i, _ := w.T.ColumnIndex(path)
		return "(" + present(i) + " AND " + cond + ")"
	}
	if !neg {
		return cond
	}
	return "COALESCE(" + cond + ", 0)"
}

// listAny: some element equals, or matches, one of vals.
func (w *where) listAny(col string, vals []string) string {
	var ors []string
	elem := "value"
	if w.D == ClickHouse {
		elem = "x"
	}
	for _, v := range vals {
		if strings.ContainsAny(v, "*?") {
			ors = append(ors, w.glob(elem))
			w.args = append(w.args, w.pattern(v))
		} else {
			ors = append(ors, elem+" = ?")
			w.args = append(w.args, v)
		}
	}
	cond := strings.Join(ors, " OR ")
	if w.D == ClickHouse {
		return fmt.Sprintf("arrayExists(x -> (%s), %s)", cond, col)
	}
	return fmt.Sprintf("EXISTS (SELECT 1 FROM json_each(%s) WHERE %s)", col, cond)
}

func (s SQL) glob(expr string) string {
	if s.D == ClickHouse {
		return "like(" + expr + ", ?)"
	}
	return expr + " GLOB ?"
}

// pattern turns a wildcard (* and ?) into the dialect's pattern: GLOB's
// (only "[" needs escaping) or LIKE's.
func (s SQL) pattern(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch {
		case s.D == SQLite && r == '[':
			b.WriteString("[[]")
		case s.D == ClickHouse && (r == '%' || r == '_' || r == '\\'):
			b.WriteByte('\\')
			b.WriteRune(r)
		case s.D == ClickHouse && r == '*':
			b.WriteByte('%')
		case s.D == ClickHouse && r == '?':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Ident quotes a column name.
func Ident(name string) string {
	return "`" + name + "`"
}

// sortKey is one ordering expression.
type sortKey struct {
	expr string
	desc bool
	kind logtype.Kind
}

func (s SQL) sortKeys(q Query) ([]sortKey, error) {
	var keys []sortKey
	for _, o := range q.Sort {
		c, ok := s.T.Column(o.Field)
		if !ok {
			return nil, fmt.Errorf("%w: cannot sort by unknown field %q", ErrBadQuery, o.Field)
		}
		var expr string
		switch c.Kind {
		case logtype.Text:
			expr = "COALESCE(" + Ident(c.Name) + ", '')"
		case logtype.Int, logtype.Float, logtype.Bool:
			expr = "COALESCE(" + Ident(c.Name) + ", 0)"
		default:
			return nil, fmt.Errorf("%w: cannot sort by %s (a list or an object)", ErrBadQuery, o.Field)
		}
		keys = append(keys, sortKey{expr: expr, desc: o.Descending, kind: c.Kind})
	}
	return append(keys, sortKey{expr: ColTime, desc: true, kind: logtype.Int}, sortKey{expr: ColID, desc: true, kind: logtype.Int}), nil
}

// OrderBy is the ORDER BY list of a query.
func (s SQL) OrderBy(q Query) (string, error) {
	keys, err := s.sortKeys(q)
	if err != nil {
		return "", err
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.expr
		if k.desc {
			parts[i] += " DESC"
		}
	}
	return strings.Join(parts, ", "), nil
}

// CursorAfter is the cursor that continues after row r in q's order.
func CursorAfter(t *logtype.Type, q Query, r logtype.Row) *Cursor {
	c := &Cursor{Time: r.Time, ID: r.ID}
	for _, o := range q.Sort {
		i, _ := t.ColumnIndex(o.Field)
		v := r.Values[i]
		switch b := v.(type) {
		case nil:
			v = int64(0)
			if t.Columns[i].Kind == logtype.Text {
				v = ""
			}
		case bool:
			v = int64(0)
			if b {
				v = int64(1)
			}
		}
		c.Values = append(c.Values, v)
	}
	return c
}

// keyset is the condition "after the cursor" in the query's order.
func (s SQL) keyset(q Query) (string, []any, error) {
	keys, err := s.sortKeys(q)
	if err != nil {
		return "", nil, err
	}
	c := q.After
	if len(c.Values) != len(keys)-2 {
		return "", nil, fmt.Errorf("%w: the after_key does not fit this sort order", ErrBadQuery)
	}
	vals := append(append([]any(nil), c.Values...), c.Time, c.ID)
	for i, k := range keys {
		v, err := cursorValue(vals[i], k.kind)
		if err != nil {
			return "", nil, fmt.Errorf("%w: after_key: %v", ErrBadQuery, err)
		}
		vals[i] = v
	}
	var ors []string
	var args []any
	for i, k := range keys {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, keys[j].expr+" = ?")
			args = append(args, vals[j])
		}
		op := " > ?"
		if k.desc {
			op = " < ?"
		}
		ands = append(ands, k.expr+op)
		args = append(args, vals[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args, nil
}

// cursorValue checks a cursor value (decoded from JSON: strings and
// float64s) against its key's kind.
func cursorValue(v any, k logtype.Kind) (any, error) {
	switch k {
	case logtype.Text:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case logtype.Int, logtype.Bool:
		switch n := v.(type) {
		case json.Number:
			return n.Int64()
		case int64:
			return n, nil
		case float64:
			return int64(n), nil
		}
	case logtype.Float:
		switch n := v.(type) {
		case json.Number:
			return n.Float64()
		case int64:
			return float64(n), nil
		case float64:
			return n, nil
		}
	}
	return nil, fmt.Errorf("value %v does not fit the sort key", v)
}
