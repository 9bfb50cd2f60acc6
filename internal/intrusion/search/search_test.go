package search

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/intrusion/events"
	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/linseedtest"
)

func flow(end int64, src, srcNS, srcName, dst, dstType, dstAggr, action string) map[string]any {
	return map[string]any{"start_time": end - 10, "end_time": end, "source_ip": src, "source_name": srcName, "source_name_aggr": srcName,
		"source_namespace": srcNS, "source_type": "wep", "dest_ip": dst, "dest_name": "-", "dest_name_aggr": dstAggr, "dest_namespace": "-",
		"dest_type": dstType, "dest_port": 80, "proto": "tcp", "action": action, "reporter": "src", "host": "node-1", "num_flows_started": 1}
}

func storedEvents(t *testing.T, ls events.Linseed) []events.Event {
	t.Helper()
	var page api.List
	if err := ls.Post(context.Background(), events.ListPath, api.Params{}, &page); err != nil {
		t.Fatal(err)
	}
	out := make([]events.Event, len(page.Items))
	for i, it := range page.Items {
		if err := json.Unmarshal(it, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// A flow to a listed address (by its IP, or by the feed's set when the
// record has no IPs), and a lookup of a listed domain's subdomain, each
// give one event, once: a second search over the same window adds none.
func TestSearchGivesOneEventPerRecord(t *testing.T) {
	ctx := context.Background()
	ls := linseedtest.New(t)
	now := time.Now().Truncate(time.Second)
	end := now.Add(-time.Minute).Unix()
	records := []any{
		flow(end, "10.0.1.5", "dev", "client-a", "203.0.113.7", "net", "pub", "allow"),           // listed by IP
		flow(end, "10.0.1.6", "prod", "client-b", "<null>", "ns", "threatfeed.bad-ips", "allow"), // names the set
		flow(end, "10.0.1.7", "dev", "client-c", "198.51.100.1", "net", "pub", "allow"),          // not listed
		flow(end-3600*3, "10.0.1.5", "dev", "client-a", "203.0.113.7", "net", "pub", "allow"),    // outside the window
		flow(end, "203.0.113.9", "-", "-", "10.0.1.5", "wep", "client-a", "deny"),                // listed source
	}
	// The same connection in the next interval: reported before.
	later := flow(end, "10.0.1.5", "dev", "client-a", "203.0.113.7", "net", "pub", "allow")
	later["num_flows_started"], later["start_time"] = 0, end-5
	records = append(records, later)
	if _, err := ls.Bulk(ctx, "POST", "/flows/logs/bulk", records); err != nil {
		t.Fatal(err)
	}
	endRFC := time.Unix(end, 0).UTC().Format(time.RFC3339)
	dns := []any{
		map[string]any{"start_time": endRFC, "end_time": endRFC, "type": "log", "count": 1, "client_ip": "10.0.1.5", "client_name": "client-a",
			"client_name_aggr": "client-a", "client_namespace": "dev", "qname": "c2.evil.example", "qtype": "A", "qclass": "IN", "rcode": "NoError",
			"rrsets": []any{map[string]any{"name": "c2.evil.example", "type": "A", "class": "IN", "rdata": []string{"203.0.113.50"}}}, "host": "node-1"},
		map[string]any{"start_time": endRFC, "end_time": endRFC, "type": "log", "count": 1, "client_ip": "10.0.1.5", "client_name": "client-a",
			"client_name_aggr": "client-a", "client_namespace": "dev", "qname": "fine.example", "qtype": "A", "qclass": "IN", "rcode": "NoError", "host": "node-1"},
	}
	if _, err := ls.Bulk(ctx, "POST", "/dns/logs/bulk", dns); err != nil {
		t.Fatal(err)
	}
	feeds := &Feeds{}
	feeds.Put("bad-ips", v3.ThreatFeedContentIPSet, []string{"203.0.113.0/28"})
	feeds.Put("bad-domains", v3.ThreatFeedContentDomainNameSet, []string{"evil.example"})
	s := &Searcher{Feeds: feeds, Linseed: ls, Events: &events.Writer{Linseed: ls}}
	res, err := s.Search(ctx, now.Add(-time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Flows != 5 || res.DNS != 2 || res.Events.Written != 4 {
		t.Fatalf("search: %+v; want 5 flows and 2 DNS records read, 4 events", res)
	}
	got := storedEvents(t, ls)
	byNS := map[string]events.Event{}
	for _, e := range got {
		byNS[e.Type+"/"+e.SourceNamespace+"/"+e.SourceIP] = e
	}
	if e, ok := byNS["gtf_suspicious_flow/dev/10.0.1.5"]; !ok || e.DestIP != "203.0.113.7" || e.Origin != "bad-ips" || e.SourceName != "client-a" || *e.DestPort != 80 {
		t.Errorf("the flow to a listed IP: %+v", e)
	}
	if e, ok := byNS["gtf_suspicious_flow/prod/10.0.1.6"]; !ok || e.DestIP != "" || e.DestNameAggr != "threatfeed.bad-ips" {
		t.Errorf("the flow to the feed's set: %+v", e)
	}
	if e, ok := byNS["gtf_suspicious_flow//203.0.113.9"]; !ok || e.DestNameAggr != "client-a" {
		t.Errorf("the flow from a listed IP: %+v (events %+v)", e, byNS)
	}
	if e, ok := byNS["gtf_suspicious_dns_query/dev/10.0.1.5"]; !ok || e.Origin != "bad-domains" || e.DestName != "evil.example" || e.Time != end {
		t.Errorf("the lookup of a listed domain: %+v", e)
	}
	// Again, overlapping: nothing new.
	res, err = s.Search(ctx, now.Add(-2*time.Hour), now)
	if err != nil || res.Events.Written != 0 || res.Events.Duplicates != 4 {
		t.Fatalf("second search: %+v %v; want 4 duplicates, none written", res, err)
	}
	if n := len(storedEvents(t, ls)); n != 4 {
		t.Errorf("%d events after the second search, want 4", n)
	}
}

func TestNamesSet(t *testing.T) {
	for _, c := range []struct {
		aggr, feed string
		want       bool
	}{
		{"threatfeed.evil", "evil", true},
		{"threatfeed.evil-2", "evil", true},
		{"threatfeed.evil-x", "evil", false},
		{"threatfeed.evilcorp", "evil", false},
		{"threatfeed.evil-", "evil", false},
		{"evil", "evil", false},
	} {
		if got := namesSet(c.aggr, c.feed); got != c.want {
			t.Errorf("namesSet(%q, %q) = %v", c.aggr, c.feed, got)
		}
	}
}
