// Package logtype describes the log types Linseed stores (flow, DNS,
// audit and BGP logs, events, compliance documents): their fields as
// typed columns, the field that gives a record its time, and how a
// record's JSON becomes a row of column values and back.
//
// A row keeps everything the JSON had: the known fields in their
// columns, and anything else (fields a newer client sends) as "extra"
// JSON, so nothing written is lost. The stores (linseed/store) persist
// rows and query them by the columns; the query language's keys are the
// columns' dotted JSON paths. It is pure logic.
package logtype

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/calicong/calico/internal/logquery"
	"github.com/cespare/xxhash/v2"
)

// Kind is a column's type.
type Kind int

const (
	// Text is a string.
	Text Kind = iota
	// Int is a whole number (int64).
	Int
	// Float is a number (float64).
	Float
	// Bool is true or false.
	Bool
	// List is an array of strings.
	List
	// JSON is any JSON value, kept as its text; not queryable.
	JSON
)

// Column is one field of a log type.
type Column struct {
	// Path is the field's dotted JSON path ("policies.enforced_policies"),
	// also its key in queries.
	Path string
	// Name is the column's name in a store: the path with "." as "_".
	Name string
	Kind Kind
	path []string
}

// Type is one log type.
type Type struct {
	// Name names the type and its tables ("flows", "audit_ee").
	Name string
	// Columns are the known fields, in the order records are written.
	Columns []Column
	// TimePath is the column that gives a record its time: unix seconds
	// (Int) or an RFC 3339 string (Text).
	TimePath string
	// OmitNull leaves fields without a value out of encoded records;
	// otherwise every column is written (null when it has no value).
	OmitNull bool
	// Indexes are extra column sets stores index, after the cluster (and
	// before the time), for the queries the console makes.
	Indexes [][]string

	timeCol int
	byPath  map[string]int
	// prefixes are the object paths that hold columns ("policies").
	prefixes map[string]bool
	fields   logquery.Fields
	tree     *node
}

// Row is one record as columns.
type Row struct {
	// Time is the record's time, unix milliseconds.
	Time int64
	// ID identifies the record: a hash of its JSON, so the same record
	// written twice (a shipper's retry) is stored once.
	ID int64
	// Values are the columns' values, by column: string (Text, JSON),
	// int64, float64, bool, []string; nil when the record has none.
	Values []any
	// Extra holds the fields no column knows, as JSON: by the path of
	// the object they are in ("" for the record itself), by key.
	Extra map[string]map[string]json.RawMessage
}

// New checks and prepares a type.
func New(t Type) (*Type, error) {
	if t.Name == "" || strings.ContainsAny(t.Name, " .\"'`") {
		return nil, fmt.Errorf("log type %q: invalid name", t.Name)
	}
	t.byPath = map[string]int{}
	t.prefixes = map[string]bool{}
	t.fields = logquery.Fields{}
	t.timeCol = -1
	names := map[string]bool{}
	for i := range t.Columns {
		c := &t.Columns[i]
		c.path = strings.Split(c.Path, ".")
		c.Name = strings.ReplaceAll(c.Path, ".", "_")
		if slices.Contains(c.path, "") || names[c.Name] || strings.HasPrefix(c.Name, "_") {
			return nil, fmt.Errorf("log type %s: column %q: empty, duplicate or reserved", t.Name, c.Path)
		}
		names[c.Name] = true
		t.byPath[c.Path] = i
		for j := 1; j < len(c.path); j++ {
			t.prefixes[strings.Join(c.path[:j], ".")] = true
		}
		switch c.Kind {
		case Text:
			t.fields[c.Path] = logquery.String
		case Int, Float:
			t.fields[c.Path] = logquery.Number
		case Bool:
			t.fields[c.Path] = logquery.String // "true" or "false"
		case List:
			t.fields[c.Path] = logquery.List
		}
		if c.Path == t.TimePath {
			t.timeCol = i
		}
	}
	for p := range t.prefixes {
		if _, ok := t.byPath[p]; ok {
			return nil, fmt.Errorf("log type %s: %q is both a column and an object", t.Name, p)
		}
	}
	if t.timeCol < 0 || (t.Columns[t.timeCol].Kind != Int && t.Columns[t.timeCol].Kind != Text) {
		return nil, fmt.Errorf("log type %s: time field %q must be an Int or Text column", t.Name, t.TimePath)
	}
	for _, ix := range t.Indexes {
		for _, name := range ix {
			if !names[name] {
				return nil, fmt.Errorf("log type %s: index column %q unknown", t.Name, name)
			}
		}
	}
	t.tree = buildTree(t.Columns)
	return &t, nil
}

// Fields are the type's queryable keys.
func (t *Type) Fields() logquery.Fields { return t.fields }

// Column returns the column of a path.
func (t *Type) Column(path string) (Column, bool) {
	i, ok := t.byPath[path]
	if !ok {
		return Column{}, false
	}
	return t.Columns[i], true
}

// ColumnIndex returns the index of a path's column.
func (t *Type) ColumnIndex(path string) (int, bool) {
	i, ok := t.byPath[path]
	return i, ok
}

// Decode reads one record. Its errors name the field that is wrong.
func (t *Type) Decode(line []byte) (Row, error) {
	s := newScanner(line)
	c, err := s.peek()
	switch {
	case err != nil:
		return Row{}, errors.New("not a JSON object: an empty line")
	case c == 'n' && s.literal("null") == nil:
		return Row{}, errors.New("not a JSON object: null")
	case c != '{':
		return Row{}, errors.New("not a JSON object")
	}
	r := Row{Values: make([]any, len(t.Columns))}
	if err := t.scanObject(s, &r, t.tree); err != nil {
		return Row{}, err
	}
	if c, err := s.peek(); err == nil {
		if c == '{' || c == '[' || c == '"' {
			return Row{}, errors.New("more than one JSON value on the line")
		}
		return Row{}, fmt.Errorf("invalid JSON: unexpected %q after the object", c)
	}
	tv := r.Values[t.timeCol]
	if tv == nil {
		return Row{}, fmt.Errorf("%s: required (the record's time)", t.TimePath)
	}
	ms, err := timeMillis(tv)
	if err != nil {
		return Row{}, fmt.Errorf("%s: %w", t.TimePath, err)
	}
	r.Time = ms
	r.ID = int64(xxhash.Sum64(bytes.TrimSpace(line)) &^ (1 << 63))
	return r, nil
}

// scanObject reads an object (its '{' is next): the record, or one of
// the objects that hold columns (n).
func (t *Type) scanObject(s *scanner, r *Row, n *node) error {
	syntax := func(err error) error { return fmt.Errorf("invalid JSON: %w", err) }
	s.pos++
	c, err := s.peek()
	if err != nil {
		return syntax(err)
	}
	if c == '}' {
		s.pos++
		return nil
	}
	// Writers send the fields in one order, mostly the columns' own
	// (Felix's): the child after the last one found is tried before the
	// map.
	next := 0
	for {
		key, err := s.str()
		if err != nil {
			return syntax(err)
		}
		if err := s.expect(':'); err != nil {
			return syntax(err)
		}
		var ch *node
		if next < len(n.children) && n.children[next].key == key {
			ch = n.children[next]
		} else {
			ch = n.byKey[key]
		}
		if ch != nil {
			next = ch.index + 1
		}
		switch {
		case ch != nil && ch.col >= 0:
			v, err := s.value(t.Columns[ch.col].Kind)
			if err != nil {
				return fmt.Errorf("%s: %w", ch.path, err)
			}
			r.Values[ch.col] = v
		case ch != nil:
			c, err := s.peek()
			if err != nil {
				return syntax(err)
			}
			switch c {
			case '{':
				if err := t.scanObject(s, r, ch); err != nil {
					return err
				}
			case 'n':
				if err := s.literal("null"); err != nil {
					return syntax(err)
				}
			default:
				return fmt.Errorf("%s: expected an object", ch.path)
			}
		default:
			raw, err := s.skip(0)
			if err != nil {
				return syntax(err)
			}
			if r.Extra == nil {
				r.Extra = map[string]map[string]json.RawMessage{}
			}
			if r.Extra[n.path] == nil {
				r.Extra[n.path] = map[string]json.RawMessage{}
			}
			r.Extra[n.path][key] = json.RawMessage(compactJSON(raw))
		}
		c, err := s.peek()
		if err != nil {
			return syntax(err)
		}
		s.pos++
		switch c {
		case '}':
			return nil
		case ',':
		default:
			return syntax(fmt.Errorf("expected ',' or '}' at offset %d", s.pos-1))
		}
	}
}

// timeMillis reads a time column's value: unix seconds, or RFC 3339.
func timeMillis(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v * 1000, nil
	case string:
		ts, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, fmt.Errorf("expected an RFC 3339 time, got %q", v)
		}
		return ts.UnixMilli(), nil
	}
	return 0, fmt.Errorf("expected a time, got %v", v)
}

// node is the tree of the type's JSON objects.
type node struct {
	key      string
	index    int // among its parent's children
	path     string
	col      int // a leaf's column, -1 for an object
	children []*node
	byKey    map[string]*node
}

func buildTree(cols []Column) *node {
	root := &node{col: -1, byKey: map[string]*node{}}
	for i, c := range cols {
		n := root
		for j, seg := range c.path {
			var child *node
			for _, ch := range n.children {
				if ch.key == seg {
					child = ch
				}
			}
			if child == nil {
				child = &node{key: seg, index: len(n.children), path: strings.Join(c.path[:j+1], "."), col: -1, byKey: map[string]*node{}}
				n.children = append(n.children, child)
				n.byKey[seg] = child
			}
			n = child
		}
		n.col = i
	}
	return root
}

// Encode appends a row's record as one JSON object.
func (t *Type) Encode(buf []byte, r Row) []byte {
	return t.encodeNode(buf, t.tree, r)
}

func (t *Type) encodeNode(buf []byte, n *node, r Row) []byte {
	buf = append(buf, '{')
	first := true
	key := func(k string) {
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendString(buf, k)
		buf = append(buf, ':')
	}
	for _, ch := range n.children {
		if ch.col < 0 {
			// An object without any value is left out, or null.
			if !t.anyValue(ch, r) {
				if !t.OmitNull {
					key(ch.key)
					buf = append(buf, "null"...)
				}
				continue
			}
			key(ch.key)
			buf = t.encodeNode(buf, ch, r)
			continue
		}
		v := r.Values[ch.col]
		if v == nil && t.OmitNull {
			continue
		}
		key(ch.key)
		buf = appendValue(buf, t.Columns[ch.col].Kind, v)
	}
	// Extra fields in this object, in a stable order.
	if extra := r.Extra[n.path]; len(extra) > 0 {
		keys := make([]string, 0, len(extra))
		for k := range extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			key(k)
			buf = append(buf, extra[k]...)
		}
	}
	return append(buf, '}')
}

func (t *Type) anyValue(n *node, r Row) bool {
	if n.col >= 0 {
		return r.Values[n.col] != nil
	}
	for _, ch := range n.children {
		if t.anyValue(ch, r) {
			return true
		}
	}
	return len(r.Extra[n.path]) > 0
}

func appendValue(buf []byte, k Kind, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(buf, "null"...)
	case string:
		if k == JSON {
			return append(buf, v...)
		}
		return appendString(buf, v)
	case int64:
		return strconv.AppendInt(buf, v, 10)
	case float64:
		b, _ := json.Marshal(v)
		return append(buf, b...)
	case bool:
		return strconv.AppendBool(buf, v)
	case []string:
		buf = append(buf, '[')
		for i, e := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, e)
		}
		return append(buf, ']')
	}
	b, _ := json.Marshal(v)
	return append(buf, b...)
}

// ListJSON is a list's JSON text.
func ListJSON(l []string) string {
	return string(appendValue(make([]byte, 0, 16*len(l)+2), List, l))
}

// appendString writes s as a JSON string (invalid UTF-8 as U+FFFD).
func appendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\t':
				buf = append(buf, '\\', 't')
			case '\r':
				buf = append(buf, '\\', 'r')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, "\\ufffd"...)
			i++
			start = i
			continue
		}
		i += n
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
