package clickhouse

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/linseed/store/clickhouse/chtest"
	"github.com/calicong/calico/internal/linseed/store/storetest"
)

// server is the package's ClickHouse, started once; each test uses its
// own database.
var server *chtest.Server

func TestMain(m *testing.M) {
	if chtest.Available() {
		s, err := chtest.Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		server = s
	}
	code := m.Run()
	if server != nil {
		server.Stop()
	}
	os.Exit(code)
}

func requireServer(t testing.TB) {
	t.Helper()
	if server != nil {
		return
	}
	if os.Getenv("CALICO_BIN") != "" {
		t.Fatalf("%s is not installed; make test installs it", chtest.Binary)
	}
	t.Skipf("%s is not installed", chtest.Binary)
}

var databases atomic.Int64

func open(t testing.TB, database string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Addr: server.Addr, Database: database})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	requireServer(t)
	storetest.Run(t, storetest.Harness{
		Open: func(t testing.TB) store.Store {
			return open(t, fmt.Sprintf("test_%d", databases.Add(1)))
		},
		Reopen: func(t testing.TB, s store.Store) store.Store {
			db := s.(*Store).database
			s.Close()
			return open(t, db)
		},
	})
}

// BenchmarkIngest writes flow logs in batches of 1,000 and reports flow
// logs per second.
func BenchmarkIngest(b *testing.B) {
	requireServer(b)
	s := open(b, fmt.Sprintf("bench_%d", databases.Add(1)))
	typ, rows := storetest.BenchFlows(b, 20000)
	n := 0
	for b.Loop() {
		for i := 0; i < len(rows); i += 20000 {
			if _, err := s.Write(context.Background(), typ, "cluster", rows[i:i+20000]); err != nil {
				b.Fatal(err)
			}
		}
		n += len(rows)
		storetest.ReID(rows)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
}
