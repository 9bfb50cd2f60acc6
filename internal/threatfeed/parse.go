// Package threatfeed reads threat feeds (GlobalThreatFeed): the content
// a feed's URL serves, in its format (one entry per line, JSON with a
// path to the entries, or a CSV column), into normalised entries:
// networks in CIDR form for an IPSet feed, lower-case ASCII (IDNA) names
// for a DomainNameSet feed. A bad entry is an error naming its line (or
// JSON element), so the feed's status says where the content is wrong.
//
// It is pure: the caller fetches the content (Fetch, in fetch.go, is
// the HTTP part) and writes the result.
package threatfeed

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"k8s.io/client-go/util/jsonpath"

	v3 "github.com/calicong/calico/api/v3"
)

// Error is content that does not parse: where, and why.
type Error struct {
	// Line is the 1-based line (or CSV record) of the bad entry; 0 when
	// the error is not about one line (JSON: Element is then the index
	// of the entry the path found).
	Line    int
	Element int
	Msg     string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	case e.Element > 0:
		return fmt.Sprintf("entry %d: %s", e.Element, e.Msg)
	}
	return e.Msg
}

// Parse reads a feed's content into its entries, sorted and without
// duplicates.
func Parse(content string, format v3.ThreatFeedFormat, body []byte) ([]string, error) {
	norm := normaliseIP
	if content == v3.ThreatFeedContentDomainNameSet {
		norm = normaliseDomain
	}
	var (
		out []string
		err error
	)
	switch {
	case format.JSON != nil:
		out, err = parseJSON(format.JSON.Path, body, norm)
	case format.CSV != nil:
		out, err = parseCSV(format.CSV, body, norm)
	default:
		out, err = parseLines(body, norm)
	}
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// parseLines reads one entry per line; "#" starts a comment.
func parseLines(body []byte, norm func(string) (string, error)) ([]string, error) {
	var out []string
	s := bufio.NewScanner(bytes.NewReader(body))
	s.Buffer(nil, 1<<20)
	for n := 1; s.Scan(); n++ {
		line, _, _ := strings.Cut(s.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		e, err := norm(line)
		if err != nil {
			return nil, &Error{Line: n, Msg: err.Error()}
		}
		out = append(out, e)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading the feed: %w", err)
	}
	return out, nil
}

// parseJSON finds the entries with a Kubernetes JSONPath ("{.ips[*]}";
// "$.ips[*]" is read as that too).
func parseJSON(path string, body []byte, norm func(string) (string, error)) ([]string, error) {
	if strings.HasPrefix(path, "$") {
		path = "{" + strings.TrimPrefix(path, "$") + "}"
	}
	jp := jsonpath.New("feed")
	if err := jp.Parse(path); err != nil {
		return nil, fmt.Errorf("the JSON path %q: %w", path, err)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &Error{Line: 1 + bytes.Count(body[:se.Offset], []byte("\n")), Msg: "not JSON: " + se.Error()}
		}
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	results, err := jp.FindResults(doc)
	if err != nil {
		return nil, fmt.Errorf("the JSON path %q: %w", path, err)
	}
	var out []string
	i := 0
	for _, rs := range results {
		for _, r := range rs {
			i++
			v, ok := r.Interface().(string)
			if !ok {
				return nil, &Error{Element: i, Msg: fmt.Sprintf("the path found %v, not a string", r.Interface())}
			}
			e, err := norm(strings.TrimSpace(v))
			if err != nil {
				return nil, &Error{Element: i, Msg: err.Error()}
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// parseCSV takes the entries from one column.
func parseCSV(c *v3.ThreatFeedFormatCSV, body []byte, norm func(string) (string, error)) ([]string, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.ReuseRecord = true
	if c.ColumnDelimiter != "" {
		r.Comma = []rune(c.ColumnDelimiter)[0]
	}
	if c.CommentDelimiter != "" {
		r.Comment = []rune(c.CommentDelimiter)[0]
	}
	r.FieldsPerRecord = c.RecordSize
	if c.DisableRecordSizeValidation {
		r.FieldsPerRecord = -1
	}
	col := -1
	if c.FieldNum != nil {
		col = int(*c.FieldNum)
	}
	var out []string
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &Error{Line: pe.Line, Msg: pe.Err.Error()}
			}
			return nil, err
		}
		if first && c.Header {
			if c.FieldName != "" {
				col = slices.Index(rec, c.FieldName)
				if col < 0 {
					return nil, &Error{Line: line, Msg: fmt.Sprintf("the header has no column %q (it has %s)", c.FieldName, strings.Join(rec, ", "))}
				}
			}
			continue
		}
		if col >= len(rec) {
			return nil, &Error{Line: line, Msg: fmt.Sprintf("the record has %d columns, no column %d", len(rec), col)}
		}
		v := strings.TrimSpace(rec[col])
		if v == "" {
			continue
		}
		e, err := norm(v)
		if err != nil {
			return nil, &Error{Line: line, Msg: err.Error()}
		}
		out = append(out, e)
	}
	return out, nil
}

// normaliseIP reads an address or network, as a masked CIDR.
func normaliseIP(s string) (string, error) {
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Zone() == "" {
		return p.Masked().String(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()).String(), nil
	}
	return "", fmt.Errorf("%q is not an IP address or network", s)
}

// hostname tells a name of letters, digits, hyphens and underscores in
// non-empty labels of at most 63, at most 253 in all.
func hostname(a string) bool {
	if a == "" || len(a) > 253 {
		return false
	}
	for _, l := range strings.Split(a, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// profile converts names to ASCII as DNS answers have them.
var profile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false))

// normaliseDomain reads a domain name (UTF-8 or ACE), in lower-case
// ASCII without the trailing dot.
func normaliseDomain(s string) (string, error) {
	bad := fmt.Errorf("%q is not a domain name", s)
	if !utf8.ValidString(s) {
		return "", bad
	}
	a, err := profile.ToASCII(strings.TrimSuffix(s, "."))
	if err != nil || !hostname(a) {
		return "", bad
	}
	// The ASCII form must read back (a punycode label that decodes to
	// nothing valid is not a name).
	if _, err := profile.ToUnicode(a); err != nil {
		return "", bad
	}
	return strings.ToLower(a), nil
}
