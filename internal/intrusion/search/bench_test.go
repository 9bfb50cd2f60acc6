package search

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/intrusion/events"
	"github.com/calicong/calico/internal/linseed/flowgen"
	"github.com/calicong/calico/internal/linseed/linseedtest"
)

// BenchmarkSearchFlows: the whole search of a window of 100,000 flow
// logs against a 100,000-entry IP feed: read from a real Linseed (its
// handler over SQLite, over HTTP, a page of 5,000 at a time), decoded,
// matched, and the matches' events written. Reports flows checked per
// second (issue 24's target: 100,000 on 2 cores).
func BenchmarkSearchFlows(b *testing.B) {
	ctx := context.Background()
	ls := linseedtest.New(b)
	const n = 100_000
	now := time.Now().Unix()
	g := flowgen.Gen{Now: now, N: n, Span: 3000, Namespaces: 20, Apps: 10}
	batch := make([]any, 0, 5000)
	for i := range n {
		batch = append(batch, json.RawMessage(g.Line(nil, i)))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := ls.Bulk(ctx, "POST", "/flows/logs/bulk", batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	// The feed: 100,000 addresses outside the flows' 10.0.0.0/8, and one
	// a flow uses.
	entries := make([]string, 0, 100_000)
	for i := range 99_999 {
		entries = append(entries, netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}).String())
	}
	entries = append(entries, "10.0.0.0/24")
	feeds := &Feeds{}
	feeds.Put("bench", v3.ThreatFeedContentIPSet, entries)
	s := &Searcher{Feeds: feeds, Linseed: ls, Events: &events.Writer{Linseed: ls}}
	from, to := time.Unix(now-4000, 0), time.Unix(now+1, 0)
	b.ResetTimer()
	var checked int
	for b.Loop() {
		res, err := s.Search(ctx, from, to)
		if err != nil {
			b.Fatal(err)
		}
		if res.Flows != n {
			b.Fatalf("%d flows read, want %d", res.Flows, n)
		}
		checked += res.Flows
	}
	b.ReportMetric(float64(checked)/b.Elapsed().Seconds(), "flows/s")
}
