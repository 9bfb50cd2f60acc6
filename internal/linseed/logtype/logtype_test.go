package logtype

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// A flow log as calico-node writes it (level 0, policies included).
const flowLine = `{"start_time":1700000000,"end_time":1700000015,"source_ip":"10.65.0.1","source_name":"cli","source_name_aggr":"cli","source_namespace":"fl","nat_outgoing_ports":null,"source_port":40000,"source_type":"wep","source_labels":{"labels":["app=cli"]},"dest_ip":"10.65.1.2","dest_name":"srv","dest_name_aggr":"srv","dest_namespace":"fl","dest_port":8080,"dest_type":"wep","dest_labels":{"labels":["app=srv"]},"dest_service_namespace":"fl","dest_service_name":"srv","dest_service_port":"http","dest_service_port_num":80,"dest_domains":null,"proto":"tcp","action":"allow","reporter":"src","policies":{"enforced_policies":["0|__PROFILE__|__PROFILE__.kns.fl|allow|0"],"pending_policies":[],"transit_policies":[]},"bytes_in":1000000,"bytes_out":120,"num_flows":1,"num_flows_started":1,"num_flows_completed":1,"packets_in":700,"packets_out":350,"transit_bytes_in":0,"transit_bytes_out":0,"transit_packets_in":0,"transit_packets_out":0,"http_requests_allowed_in":0,"http_requests_denied_in":0,"process_name":"-","num_process_names":0,"process_id":"-","num_process_ids":0,"process_args":["-"],"num_process_args":0,"original_source_ips":null,"num_original_source_ips":0,"tcp_mean_send_congestion_window":0,"tcp_min_send_congestion_window":0,"tcp_mean_smooth_rtt":0,"tcp_max_smooth_rtt":0,"tcp_mean_min_rtt":0,"tcp_max_min_rtt":0,"tcp_mean_mss":0,"tcp_min_mss":0,"tcp_total_retransmissions":0,"tcp_lost_packets":0,"tcp_unrecovered_to":0,"host":"node-1"}`

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

func TestFlowRoundTrip(t *testing.T) {
	ft := All()[Flows]
	r, err := ft.Decode([]byte(flowLine))
	if err != nil {
		t.Fatal(err)
	}
	if r.Time != 1700000015000 || r.ID <= 0 || r.Extra != nil {
		t.Errorf("row: time %d id %d extra %v", r.Time, r.ID, r.Extra)
	}
	i, _ := ft.ColumnIndex("policies.enforced_policies")
	if !reflect.DeepEqual(r.Values[i], []string{"0|__PROFILE__|__PROFILE__.kns.fl|allow|0"}) {
		t.Errorf("enforced policies: %#v", r.Values[i])
	}
	out := ft.Encode(nil, r)
	if !jsonEqual(t, out, []byte(flowLine)) {
		t.Errorf("round trip:\n got %s\nwant %s", out, flowLine)
	}
	// The same line is the same record; another is another.
	r2, _ := ft.Decode([]byte(" " + flowLine + "\n"))
	r3, _ := ft.Decode([]byte(strings.Replace(flowLine, `"bytes_out":120`, `"bytes_out":121`, 1)))
	if r2.ID != r.ID || r3.ID == r.ID {
		t.Errorf("ids: %d %d %d", r.ID, r2.ID, r3.ID)
	}
}

func TestExtraFieldsKept(t *testing.T) {
	ft := All()[Flows]
	line := `{"end_time":5,"action":"deny","future_field":{"a":[1,2]},"policies":{"enforced_policies":["x"],"new_policies":["y"]},"source_labels":{"labels":null}}`
	r, err := ft.Decode([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Extra) != 2 || string(r.Extra[""]["future_field"]) != `{"a":[1,2]}` || string(r.Extra["policies"]["new_policies"]) != `["y"]` {
		t.Errorf("extra: %v", r.Extra)
	}
	var m map[string]any
	if err := json.Unmarshal(ft.Encode(nil, r), &m); err != nil {
		t.Fatal(err)
	}
	if m["future_field"] == nil || m["policies"].(map[string]any)["new_policies"] == nil || m["bytes_in"] != nil {
		t.Errorf("encoded: %v", m)
	}
	if _, ok := m["bytes_in"]; !ok {
		t.Error("flows write every field (null when absent)")
	}
}

func TestOmitNull(t *testing.T) {
	at := All()[AuditKube]
	line := `{"kind":"Event","auditID":"a1","verb":"create","user":{"username":"alice","groups":["dev"]},"objectRef":{"resource":"networkpolicies","namespace":"demo"},"requestReceivedTimestamp":"2026-12-06T10:00:00.123456Z","requestObject":{"spec":{"x":1}}}`
	r, err := at.Decode([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if r.Time != 1796551200123 {
		t.Errorf("time %d", r.Time)
	}
	if out := at.Encode(nil, r); !jsonEqual(t, out, []byte(line)) {
		t.Errorf("round trip:\n got %s\nwant %s", out, line)
	}
}

func TestDecodeErrors(t *testing.T) {
	ft := All()[Flows]
	for _, tc := range []struct{ line, err string }{
		{`not json`, "not a JSON object"},
		{`[1]`, "not a JSON object"},
		{`null`, "not a JSON object: null"},
		{`{"end_time":1} {"end_time":2}`, "more than one JSON value on the line"},
		{`{"action":"allow"}`, "end_time: required (the record's time)"},
		{`{"end_time":"yesterday"}`, "end_time: expected a whole number, got a string"},
		{`{"end_time":1.5}`, "end_time: expected a whole number, got 1.5"},
		{`{"end_time":1,"bytes_in":"many"}`, "bytes_in: expected a whole number, got a string"},
		{`{"end_time":1,"action":3}`, "action: expected a string, got the number 3"},
		{`{"end_time":1,"dest_domains":["a",2]}`, "dest_domains: element 1: expected a string, got the number 2"},
		{`{"end_time":1,"policies":{"enforced_policies":"x"}}`, "policies.enforced_policies: expected a list of strings, got a string"},
	} {
		_, err := ft.Decode([]byte(tc.line))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Decode(%s) = %v, want %q", tc.line, err, tc.err)
		}
	}
	at := All()[AuditEE]
	if _, err := at.Decode([]byte(`{"requestReceivedTimestamp":"10 o'clock"}`)); err == nil || !strings.Contains(err.Error(), "expected an RFC 3339 time") {
		t.Errorf("audit time: %v", err)
	}
}

func TestTypesValid(t *testing.T) {
	all := All()
	for _, name := range []string{Flows, DNS, AuditEE, AuditKube, BGP, Events, ComplianceReports, ComplianceSnapshots, ComplianceBenchmarks} {
		if all[name] == nil {
			t.Errorf("type %s missing", name)
		}
	}
	if _, err := New(Type{Name: "x", Columns: []Column{{Path: "a", Kind: Int}, {Path: "a.b", Kind: Int}}, TimePath: "a"}); err == nil {
		t.Error("a column that is also an object was accepted")
	}
	if _, err := New(Type{Name: "x", Columns: []Column{{Path: "a", Kind: List}}, TimePath: "a"}); err == nil {
		t.Error("a list as the time was accepted")
	}
}

func BenchmarkDecodeFlow(b *testing.B) {
	ft := All()[Flows]
	line := []byte(flowLine)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := ft.Decode(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeFlow(b *testing.B) {
	ft := All()[Flows]
	r, _ := ft.Decode([]byte(flowLine))
	var buf []byte
	for b.Loop() {
		buf = ft.Encode(buf[:0], r)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "tab\tnl\ncr\r\x01", "é ü 日本", "bad\xffutf8", "<html>&"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q → %s: %v", s, got, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("%q → %s → %q", s, got, back)
		}
	}
}

// FuzzDecode: no line panics; a decoded record encodes to a line that
// decodes to the same values.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(flowLine))
	f.Add([]byte(`{"end_time":5,"x":{"y":[1,"\u00e9\ud83d\ude00"]},"policies":null,"source_labels":{"labels":[]}}`))
	ft := All()[Flows]
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ft.Decode(line)
		if err != nil {
			if json.Valid(line) && utf8.Valid(line) && len(line) > 0 && line[0] == '{' && strings.Contains(err.Error(), "invalid JSON") {
				t.Fatalf("valid JSON %q called invalid: %v", line, err)
			}
			return
		}
		out := ft.Encode(nil, r)
		if !json.Valid(out) {
			t.Fatalf("%q encoded as invalid JSON %q", line, out)
		}
		r2, err := ft.Decode(out)
		if err != nil {
			t.Fatalf("%q encoded as %q, which does not decode: %v", line, out, err)
		}
		if !reflect.DeepEqual(r.Values, r2.Values) || r.Time != r2.Time {
			t.Fatalf("%q → %q: values differ\n%#v\n%#v", line, out, r.Values, r2.Values)
		}
		if !reflect.DeepEqual(r.Extra, r2.Extra) {
			t.Fatalf("%q → %q: extras differ %v %v", line, out, r.Extra, r2.Extra)
		}
	})
}
