package logquery

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDepth bounds how deeply parentheses and NOTs nest.
const MaxDepth = 100

// Error is a query that does not parse or check: what is wrong, and
// where (Pos is a byte offset into Query).
type Error struct {
	Query string
	Pos   int
	Msg   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("query %q, column %d: %s", e.Query, utf8.RuneCountInString(e.Query[:min(e.Pos, len(e.Query))])+1, e.Msg)
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tOp
	tLParen
	tRParen
	tLBrace
	tRBrace
	tComma
)

type token struct {
	kind tokKind
	text string // a word's or operator's text, a string's value
	pos  int
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the query"
	case tString:
		return "string " + quote(t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// wordRune says r may appear in a bare word: anything but space, quotes
// and the language's punctuation.
func wordRune(r rune) bool {
	if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
		return false
	}
	return !strings.ContainsRune(`()={}<>!,"'`, r)
}

type lexer struct {
	src string
	pos int
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		if !unicode.IsSpace(r) {
			break
		}
		l.pos += n
	}
	start := l.pos
	if start >= len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := l.src[start]
	switch c {
	case '(':
		l.pos++
		return token{tLParen, "(", start}, nil
	case ')':
		l.pos++
		return token{tRParen, ")", start}, nil
	case '{':
		l.pos++
		return token{tLBrace, "{", start}, nil
	case '}':
		l.pos++
		return token{tRBrace, "}", start}, nil
	case ',':
		l.pos++
		return token{tComma, ",", start}, nil
	case '=':
		l.pos++
		return token{tOp, "=", start}, nil
	case '!', '<', '>':
		l.pos++
		if l.pos < len(l.src) && l.src[l.pos] == '=' {
			l.pos++
			return token{tOp, l.src[start:l.pos], start}, nil
		}
		if c == '!' {
			return token{}, &Error{Query: l.src, Pos: start, Msg: `"!" must be followed by "=" (use NOT to negate)`}
		}
		return token{tOp, l.src[start:l.pos], start}, nil
	case '"':
		return l.str()
	case '\'':
		return token{}, &Error{Query: l.src, Pos: start, Msg: `strings are written in double quotes ("…")`}
	}
	for l.pos < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		if !wordRune(r) {
			if l.pos == start {
				return token{}, &Error{Query: l.src, Pos: start, Msg: fmt.Sprintf("unexpected character %q", r)}
			}
			break
		}
		l.pos += n
	}
	return token{tWord, l.src[start:l.pos], start}, nil
}

// str reads a double-quoted string with \" \\ \n \t escapes.
func (l *lexer) str() (token, error) {
	start := l.pos
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case '"':
			l.pos++
			return token{tString, b.String(), start}, nil
		case '\\':
			if l.pos+1 >= len(l.src) {
				return token{}, &Error{Query: l.src, Pos: start, Msg: "unterminated string"}
			}
			switch e := l.src[l.pos+1]; e {
			case '"', '\\':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				return token{}, &Error{Query: l.src, Pos: l.pos, Msg: fmt.Sprintf(`unknown escape "\%c" (use \", \\, \n or \t)`, e)}
			}
			l.pos += 2
		default:
			r, n := utf8.DecodeRuneInString(l.src[l.pos:])
			if r == utf8.RuneError && n == 1 {
				return token{}, &Error{Query: l.src, Pos: l.pos, Msg: "invalid UTF-8 in a string"}
			}
			b.WriteString(l.src[l.pos : l.pos+n])
			l.pos += n
		}
	}
	return token{}, &Error{Query: l.src, Pos: start, Msg: "unterminated string"}
}

type parser struct {
	lex   lexer
	tok   token
	depth int
}

// Parse reads a query. An empty (or all-space) query gives a nil Node,
// which matches everything.
func Parse(q string) (Node, error) {
	p := &parser{lex: lexer{src: q}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, nil
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		msg := fmt.Sprintf("unexpected %s; join terms with AND or OR", p.tok.describe())
		if p.tok.kind == tRParen {
			msg = `")" without a matching "("`
		}
		return nil, p.errf(p.tok.pos, "%s", msg)
	}
	return n, nil
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) errf(pos int, format string, args ...any) error {
	return &Error{Query: p.lex.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) isKeyword(k string) bool {
	return p.tok.kind == tWord && strings.EqualFold(p.tok.text, k)
}

func (p *parser) or() (Node, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	terms := []Node{first}
	for p.isKeyword("OR") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return &Or{Terms: flatten(terms, false)}, nil
}

func (p *parser) and() (Node, error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	terms := []Node{first}
	for p.isKeyword("AND") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return &And{Terms: flatten(terms, true)}, nil
}

// flatten merges nested nodes of the same kind ("(a AND b) AND c" is
// "a AND b AND c"), so a tree has one form.
func flatten(ns []Node, and bool) []Node {
	var out []Node
	for _, n := range ns {
		switch m := n.(type) {
		case *And:
			if and {
				out = append(out, m.Terms...)
				continue
			}
		case *Or:
			if !and {
				out = append(out, m.Terms...)
				continue
			}
		}
		out = append(out, n)
	}
	return out
}

func (p *parser) unary() (Node, error) {
	if p.depth >= MaxDepth {
		return nil, p.errf(p.tok.pos, "nested more than %d deep", MaxDepth)
	}
	p.depth++
	defer func() { p.depth-- }()
	switch {
	case p.isKeyword("NOT"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	case p.tok.kind == tLParen:
		open := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tRParen {
			return nil, p.errf(p.tok.pos, "empty parentheses")
		}
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.errf(p.tok.pos, `expected ")" to close the "(" at column %d, found %s`, open+1, p.tok.describe())
		}
		return n, p.advance()
	}
	return p.term()
}

func (p *parser) term() (*Term, error) {
	key := p.tok
	switch {
	case key.kind == tString:
	case key.kind == tWord && !keyword(key.text):
	case key.kind == tEOF:
		return nil, p.errf(key.pos, "expected a term (key op value), found the end of the query")
	default:
		return nil, p.errf(key.pos, "expected a key, found %s", key.describe())
	}
	if key.text == "" {
		return nil, p.errf(key.pos, "empty key")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	t := &Term{Key: key.text, Pos: key.pos}
	switch {
	case p.tok.kind == tOp:
		t.Op = map[string]Op{"=": Eq, "!=": Ne, "<": Lt, "<=": Le, ">": Gt, ">=": Ge}[p.tok.text]
		opTok := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tWord && p.tok.kind != tString || p.tok.kind == tWord && keyword(p.tok.text) {
			return nil, p.errf(p.tok.pos, "expected a value after %q, found %s", opTok.text, p.tok.describe())
		}
		t.Value = p.tok.text
		return t, p.advance()
	case p.isKeyword("IN"), p.isKeyword("NOTIN"):
		t.Op = In
		if p.isKeyword("NOTIN") {
			t.Op = NotIn
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tLBrace {
			return nil, p.errf(p.tok.pos, `expected "{" to start the set after %s, found %s`, t.Op, p.tok.describe())
		}
		open := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		for {
			if p.tok.kind != tWord && p.tok.kind != tString {
				if p.tok.kind == tRBrace && len(t.Values) == 0 {
					return nil, p.errf(open, "an empty set")
				}
				return nil, p.errf(p.tok.pos, "expected a value in the set, found %s", p.tok.describe())
			}
			t.Values = append(t.Values, p.tok.text)
			if err := p.advance(); err != nil {
				return nil, err
			}
			switch p.tok.kind {
			case tComma:
				if err := p.advance(); err != nil {
					return nil, err
				}
				continue
			case tRBrace:
				return t, p.advance()
			}
			return nil, p.errf(p.tok.pos, `expected "," or "}" in the set opened at column %d, found %s`, open+1, p.tok.describe())
		}
	}
	return nil, p.errf(p.tok.pos, "expected an operator (=, !=, <, <=, >, >=, IN, NOTIN) after key %q, found %s", t.Key, p.tok.describe())
}
