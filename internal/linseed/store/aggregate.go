package store

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/calicong/calico/internal/linseed/logtype"
)

// AggregateSQL is an aggregation's SQL: the select list (group columns,
// count, metrics), the GROUP BY list (empty without groups), and the
// columns a subquery must give the outer query.
func AggregateSQL(d Dialect, t *logtype.Type, a Aggregation) (sel, group, inner string, err error) {
	var sels, groups, inners, nullable []string
	for _, f := range a.GroupBy {
		c, ok := t.Column(f)
		if !ok {
			return "", "", "", fmt.Errorf("%w: cannot group by unknown field %q", ErrBadQuery, f)
		}
		switch c.Kind {
		case logtype.Text, logtype.Int, logtype.Bool:
		default:
			return "", "", "", fmt.Errorf("%w: cannot group by %s (only text, whole numbers and booleans)", ErrBadQuery, f)
		}
		expr := Ident(c.Name)
		if d == ClickHouse {
			i, _ := t.ColumnIndex(f)
			nullable = append(nullable, fmt.Sprint(i))
		}
		sels = append(sels, expr)
		groups = append(groups, expr)
		inners = append(inners, Ident(c.Name))
	}
	sels = append(sels, "count(*)")
	for _, m := range a.Metrics {
		c, ok := t.Column(m.Field)
		if !ok || (c.Kind != logtype.Int && c.Kind != logtype.Float) {
			return "", "", "", fmt.Errorf("%w: %s of %q: not a numeric field", ErrBadQuery, m.Op, m.Field)
		}
		switch m.Op {
		case Sum, Min, Max, Avg:
		default:
			return "", "", "", fmt.Errorf("%w: unknown metric %q (use sum, min, max or avg)", ErrBadQuery, m.Op)
		}
		// Records without the field take no part; a group without any
		// has 0.
		switch {
		case d == ClickHouse && m.Op == Sum:
			// A missing number is stored as 0, which adds nothing.
			sels = append(sels, fmt.Sprintf("sum(%s)", Ident(c.Name)))
		case d == ClickHouse:
			i, _ := t.ColumnIndex(m.Field)
			sels = append(sels, fmt.Sprintf("if(countIf(%[3]s) = 0, 0, %[1]sIf(%[2]s, %[3]s))", m.Op, Ident(c.Name), present(i)))
		default:
			sels = append(sels, fmt.Sprintf("COALESCE(%s(%s), 0)", m.Op, Ident(c.Name)))
		}
		if !slices.Contains(inners, Ident(c.Name)) {
			inners = append(inners, Ident(c.Name))
		}
	}
	if len(nullable) > 0 {
		// A missing value is its own group, as SQL's NULL. ClickHouse's
		// columns are not Nullable (the missing are listed in _nulls):
		// the groups are by the stored values and by which of them are
		// missing, one last column that ScanBuckets reads. (Grouping by
		// if(has(_nulls, i), NULL, value) per column costs a third more.)
		k := fmt.Sprintf("arrayFilter(x -> x IN (%s), %s)", strings.Join(nullable, ", "), ColNulls)
		sels = append(sels, k)
		groups = append(groups, k)
	}
	if len(inners) == 0 {
		inners = []string{ColID}
	}
	return strings.Join(sels, ", "), strings.Join(groups, ", "), strings.Join(inners, ", "), nil
}

// ScanBuckets reads the rows of an AggregateSQL query.
func ScanBuckets(rows *sql.Rows, t *logtype.Type, a Aggregation) ([]Bucket, error) {
	out := []Bucket{}
	n := len(a.GroupBy) + 1 + len(a.Metrics)
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	// A last column, when there is one, lists the group columns that
	// are missing (ClickHouse's, by column index).
	missing := len(cols) > n
	if missing {
		n++
	}
	idx := make([]int, len(a.GroupBy))
	for i, f := range a.GroupBy {
		idx[i], _ = t.ColumnIndex(f)
	}
	for rows.Next() {
		dest := make([]any, n)
		ptrs := make([]any, n)
		for i := range dest {
			ptrs[i] = &dest[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		b := Bucket{Key: make([]any, len(a.GroupBy)), Metrics: make([]float64, len(a.Metrics))}
		var nulls []uint16
		if missing {
			nulls, _ = dest[n-1].([]uint16)
		}
		for i, f := range a.GroupBy {
			if slices.Contains(nulls, uint16(idx[i])) {
				continue
			}
			c, _ := t.Column(f)
			b.Key[i] = keyValue(c.Kind, dest[i])
		}
		cnt, _ := toFloat(dest[len(a.GroupBy)])
		b.Count = int64(cnt)
		for i := range a.Metrics {
			b.Metrics[i], _ = toFloat(dest[len(a.GroupBy)+1+i])
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func keyValue(k logtype.Kind, v any) any {
	if v == nil {
		return nil
	}
	if p, ok := v.(*string); ok {
		if p == nil {
			return nil
		}
		v = *p
	}
	switch k {
	case logtype.Text:
		switch s := v.(type) {
		case string:
			return s
		case []byte:
			return string(s)
		}
	case logtype.Int:
		f, _ := toFloat(v)
		return int64(f)
	case logtype.Bool:
		f, _ := toFloat(v)
		return f != 0
	}
	return v
}

// toFloat reads a number a driver returned.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint8:
		return float64(n), true
	case int8:
		return float64(n), true
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case *int64:
		if n != nil {
			return float64(*n), true
		}
	case *uint8:
		if n != nil {
			return float64(*n), true
		}
	case *float64:
		if n != nil {
			return *n, true
		}
	}
	return 0, false
}

// UpdateSQL is the SET list of an update and its values, converted for
// the backend by conv. Only text, number and boolean fields may be set.
func UpdateSQL(t *logtype.Type, set map[string]any, conv func(logtype.Kind, any) any) (string, []any, error) {
	if len(set) == 0 {
		return "", nil, fmt.Errorf("%w: nothing to set", ErrBadQuery)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	var vals []any
	for _, k := range keys {
		c, ok := t.Column(k)
		if !ok {
			return "", nil, fmt.Errorf("%w: cannot set unknown field %q", ErrBadQuery, k)
		}
		v := set[k]
		okType := false
		switch c.Kind {
		case logtype.Text:
			_, okType = v.(string)
		case logtype.Int:
			_, okType = v.(int64)
		case logtype.Float:
			_, okType = v.(float64)
		case logtype.Bool:
			_, okType = v.(bool)
		}
		if !okType && v != nil {
			return "", nil, fmt.Errorf("%w: %s: a %T does not fit", ErrBadQuery, k, v)
		}
		parts = append(parts, Ident(c.Name)+" = ?")
		vals = append(vals, conv(c.Kind, v))
	}
	return strings.Join(parts, ", "), vals, nil
}

// AggregateQuery is an aggregation's query over from (a table, or a
// subquery in parentheses) that has already been filtered: grouped,
// biggest groups first, at most limit groups (0: 1,000).
func AggregateQuery(sel, from, where, group string, limit int) string {
	if limit <= 0 {
		limit = 1000
	}
	q := "SELECT " + sel + " FROM " + from
	if where != "" {
		q += " WHERE " + where
	}
	if group != "" {
		q += " GROUP BY " + group
	}
	return q + fmt.Sprintf(" ORDER BY count(*) DESC LIMIT %d", limit)
}
