package dnslogs

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/node/dnssnoop"
	"github.com/calicong/calico/internal/node/flowlogs"
)

type endpoints map[netip.Addr]flowlogs.Endpoint

func (e endpoints) Lookup(a netip.Addr) (flowlogs.Endpoint, bool) { ep, ok := e[a]; return ep, ok }

var (
	t0   = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	cliA = netip.MustParseAddr("192.168.1.10")
	cliB = netip.MustParseAddr("192.168.1.11")
	dns  = netip.MustParseAddr("192.168.2.5")
	eps  = endpoints{
		cliA: {Type: "wep", Name: "web-7d4b9-abcde", AggrName: "web-7d4b9-*", Namespace: "shop", Labels: map[string]string{"app": "web"}},
		cliB: {Type: "wep", Name: "web-7d4b9-fghij", AggrName: "web-7d4b9-*", Namespace: "shop", Labels: map[string]string{"app": "web"}},
		dns:  {Type: "wep", Name: "coredns-5d78c-xyz12", AggrName: "coredns-5d78c-*", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}},
	}
)

func answer(client netip.Addr, name, rcode string, addrs ...string) dnssnoop.Response {
	r := dnssnoop.Response{Server: dns, Client: client, Name: name, Type: "A", Class: "IN", Rcode: rcode}
	if len(addrs) > 0 {
		r.RRSets = []dnssnoop.RRSet{{Name: name, Type: "A", Class: "IN", RData: addrs}}
	}
	return r
}

func TestAggregation(t *testing.T) {
	for _, kind := range []int{0, 1} {
		c := New(Config{Host: "node-1", AggregationKind: kind, IncludeLabels: true}, eps, t0)
		c.Add(answer(cliA, "api.example.test", "NOERROR", "192.0.2.1"))
		c.Add(answer(cliA, "api.example.test", "NOERROR", "192.0.2.1"))
		c.Add(answer(cliB, "api.example.test", "NOERROR", "192.0.2.1"))
		c.Add(answer(cliA, "nope.example.test", "NXDOMAIN"))
		c.Add(answer(cliA, "api.example.test", "NOERROR", "192.0.2.2")) // another answer: another record
		recs := c.Flush(t0.Add(5 * time.Minute))
		want := map[int][]int{0: {2, 1, 1, 1}, 1: {3, 1, 1}}[kind]
		if len(recs) != len(want) {
			t.Fatalf("kind %d: %d records, want %d: %+v", kind, len(recs), len(want), recs)
		}
		for i, r := range recs {
			if r.Count != want[i] {
				t.Errorf("kind %d record %d: count %d, want %d", kind, i, r.Count, want[i])
			}
		}
		r := recs[0]
		if r.StartTime != "2026-12-06T10:00:00Z" || r.EndTime != "2026-12-06T10:05:00Z" || r.Type != "log" || r.Host != "node-1" ||
			r.ClientNameAggr != "web-7d4b9-*" || r.ClientNamespace != "shop" || r.ClientLabels["app"] != "web" ||
			r.QName != "api.example.test" || r.QType != "A" || r.QClass != "IN" || r.RCode != "NOERROR" ||
			len(r.RRSets) != 1 || r.RRSets[0].RData[0] != "192.0.2.1" ||
			len(r.Servers) != 1 || r.Servers[0].Name != "coredns-5d78c-xyz12" || r.Servers[0].Namespace != "kube-system" || r.Servers[0].IP != "192.168.2.5" {
			t.Errorf("kind %d: first record %+v", kind, r)
		}
		switch kind {
		case 0:
			if r.ClientName != "web-7d4b9-abcde" || r.ClientIP == nil || *r.ClientIP != "192.168.1.10" {
				t.Errorf("per pod: client %q ip %v", r.ClientName, r.ClientIP)
			}
		case 1:
			if r.ClientName != "-" || r.ClientIP != nil {
				t.Errorf("per workload: client %q ip %v, want - and none", r.ClientName, r.ClientIP)
			}
		}
		if recs[len(recs)-2].RCode != "NXDOMAIN" && recs[1].RCode != "NXDOMAIN" {
			t.Errorf("kind %d: no NXDOMAIN record: %+v", kind, recs)
		}
		if next := c.Flush(t0.Add(10 * time.Minute)); len(next) != 0 {
			t.Errorf("kind %d: the next interval starts with %d records", kind, len(next))
		}
	}
}

func TestPerNodeLimit(t *testing.T) {
	c := New(Config{Host: "node-1", AggregationKind: 0, PerNodeLimit: 2}, eps, t0)
	for _, n := range []string{"a", "b", "c", "d"} {
		c.Add(answer(cliA, n+".example.test", "NOERROR", "192.0.2.1"))
	}
	c.Add(answer(cliA, "a.example.test", "NOERROR", "192.0.2.1")) // counts into a kept record
	recs := c.Flush(t0.Add(time.Minute))
	if len(recs) != 3 || recs[0].QName != "a.example.test" || recs[0].Count != 2 || recs[1].QName != "b.example.test" {
		t.Fatalf("records %+v", recs)
	}
	u := recs[2]
	if u.Type != "unlogged" || u.Count != 2 {
		t.Errorf("unlogged record %+v, want type unlogged, count 2", u)
	}
	b, _ := json.Marshal(recs[0])
	for _, f := range []string{`"start_time"`, `"end_time"`, `"type":"log"`, `"count":2`, `"client_ip":"192.168.1.10"`, `"client_name"`, `"client_name_aggr"`,
		`"client_namespace"`, `"qname"`, `"qtype"`, `"qclass"`, `"rcode"`, `"rrsets"`, `"servers"`, `"latency_count":0`, `"latency_mean":null`, `"latency_max":null`, `"host":"node-1"`} {
		if !strings.Contains(string(b), f) {
			t.Errorf("the JSON lacks %s: %s", f, b)
		}
	}
}

func TestUnknownClient(t *testing.T) {
	c := New(Config{AggregationKind: 1}, eps, t0)
	c.Add(answer(netip.MustParseAddr("10.9.9.9"), "x.example.test", "NOERROR", "192.0.2.1"))
	r := c.Flush(t0)[0]
	if r.ClientName != "-" || r.ClientNameAggr != "pvt" || r.ClientNamespace != "-" {
		t.Errorf("an address no endpoint holds: %+v", r)
	}
}

func TestLatency(t *testing.T) {
	c := New(Config{AggregationKind: 1}, eps, t0)
	for _, ms := range []int{2, 4, 0} { // the last one's query was not seen
		a := answer(cliA, "api.example.test", "NOERROR", "192.0.2.1")
		a.Latency = time.Duration(ms) * time.Millisecond
		c.Add(a)
	}
	r := c.Flush(t0)[0]
	if r.Count != 3 || r.LatencyCount != 2 || r.LatencyMean == nil || *r.LatencyMean != 3e6 || r.LatencyMax == nil || *r.LatencyMax != 4e6 {
		t.Errorf("count %d, latency count %d mean %v max %v; want 3, 2, 3ms, 4ms", r.Count, r.LatencyCount, r.LatencyMean, r.LatencyMax)
	}
}
