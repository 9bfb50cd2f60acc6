package logtype

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON reader for Decode: it converts each field straight into
// its column's value, without building maps (encoding/json into a map
// costs about ten times as much, and bulk ingest decodes every line).
// Values no column takes (JSON columns, extra fields) are kept as their
// validated text.

type scanner struct {
	data []byte
	// text is data as one string. Keys and strings without escapes are
	// slices of it: one allocation a line instead of one a string (a
	// flow log has some ninety).
	text string
	pos  int
}

func newScanner(line []byte) *scanner { return &scanner{data: line, text: string(line)} }

var errEnd = errors.New("unexpected end of the line")

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) peek() (byte, error) {
	s.ws()
	if s.pos >= len(s.data) {
		return 0, errEnd
	}
	return s.data[s.pos], nil
}

func (s *scanner) expect(c byte) error {
	b, err := s.peek()
	if err != nil {
		return err
	}
	if b != c {
		return fmt.Errorf("expected %q at offset %d, found %q", c, s.pos, b)
	}
	s.pos++
	return nil
}

// str reads a string (the opening quote is next).
func (s *scanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			out := s.text[start:s.pos]
			s.pos++
			return out, nil
		case c == '\\':
			return s.strSlow(start)
		case c < 0x20:
			return "", fmt.Errorf("control character in a string at offset %d", s.pos)
		case c >= 0x80:
			r, n := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && n == 1 {
				return "", fmt.Errorf("invalid UTF-8 at offset %d", s.pos)
			}
			s.pos += n
		default:
			s.pos++
		}
	}
	return "", errEnd
}

// strSlow reads the rest of a string with escapes.
func (s *scanner) strSlow(start int) (string, error) {
	buf := append([]byte(nil), s.data[start:s.pos]...)
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return string(buf), nil
		case c == '\\':
			if s.pos+1 >= len(s.data) {
				return "", errEnd
			}
			e := s.data[s.pos+1]
			s.pos += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, err := s.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
						save := s.pos
						s.pos += 2
						if lo, err := s.hex4(); err == nil {
							if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
								r2 = d
							} else {
								s.pos = save
							}
						} else {
							s.pos = save
						}
					}
					r = r2
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", fmt.Errorf("invalid escape \\%c at offset %d", e, s.pos-2)
			}
		case c < 0x20:
			return "", fmt.Errorf("control character in a string at offset %d", s.pos)
		default:
			r, n := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && n == 1 {
				return "", fmt.Errorf("invalid UTF-8 at offset %d", s.pos)
			}
			buf = append(buf, s.data[s.pos:s.pos+n]...)
			s.pos += n
		}
	}
	return "", errEnd
}

func (s *scanner) hex4() (rune, error) {
	if s.pos+4 > len(s.data) {
		return 0, errEnd
	}
	v, err := strconv.ParseUint(string(s.data[s.pos:s.pos+4]), 16, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid \\u escape at offset %d", s.pos-2)
	}
	s.pos += 4
	return rune(v), nil
}

// number reads a JSON number's text.
func (s *scanner) number() ([]byte, error) {
	start := s.pos
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	digits := func() int {
		n := 0
		for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	if s.pos < len(s.data) && s.data[s.pos] == '0' {
		s.pos++
	} else if digits() == 0 {
		return nil, fmt.Errorf("invalid number at offset %d", start)
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return nil, fmt.Errorf("invalid number at offset %d", start)
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return nil, fmt.Errorf("invalid number at offset %d", start)
		}
	}
	return s.data[start:s.pos], nil
}

func (s *scanner) literal(word string) error {
	if s.pos+len(word) > len(s.data) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return fmt.Errorf("invalid value at offset %d", s.pos)
	}
	s.pos += len(word)
	return nil
}

// skip passes over one value, checking it, and returns its text.
func (s *scanner) skip(depth int) ([]byte, error) {
	if depth > 1000 {
		return nil, errors.New("nested too deeply")
	}
	c, err := s.peek()
	if err != nil {
		return nil, err
	}
	start := s.pos
	switch {
	case c == '"':
		_, err = s.str()
	case c == '{':
		s.pos++
		if c, err = s.peek(); err == nil && c == '}' {
			s.pos++
			break
		}
		for err == nil {
			if _, err = s.str(); err != nil {
				break
			}
			if err = s.expect(':'); err != nil {
				break
			}
			if _, err = s.skip(depth + 1); err != nil {
				break
			}
			if c, err = s.peek(); err != nil {
				break
			}
			s.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				err = fmt.Errorf("expected ',' or '}' at offset %d", s.pos-1)
			}
		}
	case c == '[':
		s.pos++
		if c, err = s.peek(); err == nil && c == ']' {
			s.pos++
			break
		}
		for err == nil {
			if _, err = s.skip(depth + 1); err != nil {
				break
			}
			if c, err = s.peek(); err != nil {
				break
			}
			s.pos++
			if c == ']' {
				break
			}
			if c != ',' {
				err = fmt.Errorf("expected ',' or ']' at offset %d", s.pos-1)
			}
		}
	case c == 't':
		err = s.literal("true")
	case c == 'f':
		err = s.literal("false")
	case c == 'n':
		err = s.literal("null")
	default:
		_, err = s.number()
	}
	if err != nil {
		return nil, err
	}
	return s.data[start:s.pos], nil
}

// value reads one value as a column of kind k wants it.
func (s *scanner) value(k Kind) (any, error) {
	c, err := s.peek()
	if err != nil {
		return nil, err
	}
	if c == 'n' {
		return nil, s.literal("null")
	}
	if k == JSON {
		raw, err := s.skip(0)
		if err != nil {
			return nil, err
		}
		return compactJSON(raw), nil
	}
	switch c {
	case '"':
		str, err := s.str()
		if err != nil {
			return nil, err
		}
		if k == Text {
			return str, nil
		}
		return nil, s.wrong(k, "a string")
	case 't', 'f':
		b := c == 't'
		if err := s.literal(map[bool]string{true: "true", false: "false"}[b]); err != nil {
			return nil, err
		}
		if k == Bool {
			return b, nil
		}
		return nil, s.wrong(k, "a boolean")
	case '[':
		if k != List {
			if _, err := s.skip(0); err != nil {
				return nil, err
			}
			return nil, s.wrong(k, "a list")
		}
		return s.list()
	case '{':
		if _, err := s.skip(0); err != nil {
			return nil, err
		}
		return nil, s.wrong(k, "an object")
	}
	num, err := s.number()
	if err != nil {
		return nil, err
	}
	switch k {
	case Int:
		if i, err := strconv.ParseInt(string(num), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return nil, fmt.Errorf("expected a whole number, got %s", num)
		}
		return int64(f), nil
	case Float:
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return nil, fmt.Errorf("expected a number, got %s", num)
		}
		return f, nil
	}
	return nil, s.wrong(k, "the number "+string(num))
}

func (s *scanner) wrong(k Kind, got string) error {
	want := map[Kind]string{Text: "a string", Int: "a whole number", Float: "a number", Bool: "true or false", List: "a list of strings"}[k]
	return fmt.Errorf("expected %s, got %s", want, got)
}

func (s *scanner) list() ([]string, error) {
	s.pos++ // '['
	out := []string{}
	c, err := s.peek()
	if err != nil {
		return nil, err
	}
	if c == ']' {
		s.pos++
		return out, nil
	}
	for i := 0; ; i++ {
		c, err := s.peek()
		if err != nil {
			return nil, err
		}
		if c != '"' {
			raw, err := s.skip(0)
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("element %d: expected a string, got %s", i, describeRaw(raw))
		}
		str, err := s.str()
		if err != nil {
			return nil, err
		}
		out = append(out, str)
		if c, err = s.peek(); err != nil {
			return nil, err
		}
		s.pos++
		if c == ']' {
			return out, nil
		}
		if c != ',' {
			return nil, fmt.Errorf("expected ',' or ']' at offset %d", s.pos-1)
		}
	}
}

func describeRaw(raw []byte) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "the number " + string(raw)
}

// compactJSON is a validated value's text without insignificant space.
func compactJSON(raw []byte) string {
	for _, c := range raw {
		if c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			var b bytes.Buffer
			if json.Compact(&b, raw) == nil {
				return b.String()
			}
			break
		}
	}
	return string(raw)
}
