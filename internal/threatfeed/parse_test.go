package threatfeed

import (
	"errors"
	"slices"
	"strings"
	"testing"

	v3 "github.com/calicong/calico/api/v3"
)

func TestParseFormats(t *testing.T) {
	two := uint32(1)
	for _, tc := range []struct {
		name    string
		content string
		format  v3.ThreatFeedFormat
		body    string
		want    []string
	}{
		{"lines with comments", "IPSet", v3.ThreatFeedFormat{}, "# a feed\n192.0.2.1\n\n198.51.100.0/24  # a network\n192.0.2.1\n2001:db8::1\n10.1.2.3/8\n",
			[]string{"10.0.0.0/8", "192.0.2.1/32", "198.51.100.0/24", "2001:db8::1/128"}},
		{"JSON", "IPSet", v3.ThreatFeedFormat{JSON: &v3.ThreatFeedFormatJSON{Path: "$.bad[*].ip"}},
			`{"bad":[{"ip":"192.0.2.7"},{"ip":"192.0.2.8"}]}`, []string{"192.0.2.7/32", "192.0.2.8/32"}},
		{"JSON, Kubernetes form", "IPSet", v3.ThreatFeedFormat{JSON: &v3.ThreatFeedFormatJSON{Path: "{.ips[*]}"}},
			`{"ips":["192.0.2.9"]}`, []string{"192.0.2.9/32"}},
		{"CSV by number", "IPSet", v3.ThreatFeedFormat{CSV: &v3.ThreatFeedFormatCSV{FieldNum: &two, ColumnDelimiter: ";", CommentDelimiter: "#"}},
			"# seen;ip\n2026-01-01;192.0.2.1\n2026-01-02;192.0.2.2\n", []string{"192.0.2.1/32", "192.0.2.2/32"}},
		{"CSV by name", "IPSet", v3.ThreatFeedFormat{CSV: &v3.ThreatFeedFormatCSV{FieldName: "addr", Header: true}},
			"first,addr\n2026,192.0.2.3\n", []string{"192.0.2.3/32"}},
		{"domains, IDNA", "DomainNameSet", v3.ThreatFeedFormat{}, "Bad.Example.\nbücher.example\nxn--bcher-kva.example\n",
			[]string{"bad.example", "xn--bcher-kva.example"}},
	} {
		got, err := Parse(tc.content, tc.format, []byte(tc.body))
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	one := uint32(1)
	for _, tc := range []struct {
		name, content string
		format        v3.ThreatFeedFormat
		body, want    string
	}{
		{"a bad address", "IPSet", v3.ThreatFeedFormat{}, "192.0.2.1\n\n# c\n192.0.2.300\n", `line 4: "192.0.2.300" is not an IP address or network`},
		{"a URL as a domain", "DomainNameSet", v3.ThreatFeedFormat{}, "ok.example\nhttp://bad.example/x\n", `line 2: "http://bad.example/x" is not a domain name`},
		{"bad JSON", "IPSet", v3.ThreatFeedFormat{JSON: &v3.ThreatFeedFormatJSON{Path: "{.ips[*]}"}}, "{\n\"ips\": [\n\"192.0.2.1\",\n]}", "line 4: not JSON"},
		{"a JSON number", "IPSet", v3.ThreatFeedFormat{JSON: &v3.ThreatFeedFormatJSON{Path: "{.ips[*]}"}}, `{"ips":["192.0.2.1", 7]}`, "entry 2: the path found 7, not a string"},
		{"a short CSV record", "IPSet", v3.ThreatFeedFormat{CSV: &v3.ThreatFeedFormatCSV{FieldNum: &one, DisableRecordSizeValidation: true}}, "a,192.0.2.1\nb\n", "line 2: the record has 1 columns"},
		{"a CSV without the named column", "IPSet", v3.ThreatFeedFormat{CSV: &v3.ThreatFeedFormatCSV{FieldName: "ip", Header: true}}, "addr\n192.0.2.1\n", `line 1: the header has no column "ip"`},
	} {
		_, err := Parse(tc.content, tc.format, []byte(tc.body))
		var pe *Error
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		} else if tc.name != "bad JSON" && !errors.As(err, &pe) {
			t.Errorf("%s: %T is not a parse Error", tc.name, err)
		}
	}
}

func FuzzParseLines(f *testing.F) {
	f.Add("192.0.2.1\n# x\n10.0.0.0/8\n")
	f.Add("bad.example\nxn--bcher-kva.example\n")
	f.Fuzz(func(t *testing.T, body string) {
		for _, content := range []string{"IPSet", "DomainNameSet"} {
			out, err := Parse(content, v3.ThreatFeedFormat{}, []byte(body))
			if err != nil {
				continue
			}
			// Entries are normal: parsing them again gives them back.
			again, err := Parse(content, v3.ThreatFeedFormat{}, []byte(strings.Join(out, "\n")))
			if err != nil || !slices.Equal(again, out) {
				t.Fatalf("%s %q: %v, then %v %v", content, body, out, again, err)
			}
		}
	})
}
