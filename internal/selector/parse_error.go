package selector

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseError describes why a selector could not be parsed.
type ParseError struct {
	Selector string // the input
	Pos      int    // 0-based byte offset where the problem was found
	Msg      string // what was expected and what was found instead
}

// Error returns a message such as
//
//	invalid selector "a b": at position 2: expected "==", ... after label "a", found "b"
//
// A selector longer than maxQuotedLen is shown as an excerpt around the
// position instead: invalid selector near "...": at position ...
func (e *ParseError) Error() string {
	what := "invalid selector " + strconv.Quote(e.Selector)
	if len(e.Selector) > maxQuotedLen {
		from := max(0, min(e.Pos, len(e.Selector))-maxQuotedLen/2)
		to := min(len(e.Selector), from+maxQuotedLen)
		what = "invalid selector near " + strconv.Quote(e.Selector[from:to])
	}
	return what + ": at position " + strconv.Itoa(e.Pos) + ": " + e.Msg
}

// maxQuotedLen is the longest selector that Error quotes in full.
const maxQuotedLen = 200

// maxFoundLen bounds how much of the input an error message quotes.
const maxFoundLen = 40

// describeAt says, for an error message, what is at byte offset pos of src.
func describeAt(src string, pos int) string {
	if pos >= len(src) {
		return "end of selector"
	}
	rest := src[pos:]
	c := rest[0]
	switch {
	case isLabelChar[c]:
		n := 1
		for n < len(rest) && isLabelChar[rest[n]] {
			n++
		}
		return quoteShort(rest[:n])
	case c == '"' || c == '\'':
		end := strings.IndexByte(rest[1:], c)
		if end < 0 {
			return "an unterminated string"
		}
		return "string " + quoteShort(rest[1:1+end])
	case strings.HasPrefix(rest, "&&"), strings.HasPrefix(rest, "||"),
		strings.HasPrefix(rest, "=="), strings.HasPrefix(rest, "!="):
		return strconv.Quote(rest[:2])
	case c == '&':
		return `"&" (did you mean "&&"?)`
	case c == '|':
		return `"|" (did you mean "||"?)`
	case c == '=':
		return `"=" (did you mean "=="?)`
	}
	_, n := utf8.DecodeRuneInString(rest)
	return strconv.Quote(rest[:n])
}

// quoteShort quotes s, shortening it if it is long.
func quoteShort(s string) string {
	if len(s) <= maxFoundLen {
		return strconv.Quote(s)
	}
	cut := maxFoundLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}
