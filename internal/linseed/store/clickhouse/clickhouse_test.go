package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/linseed/store/clickhouse/chtest"
	"github.com/calicong/calico/internal/linseed/store/storetest"
	"golang.org/x/sys/unix"
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

// TestDiskFull: a ClickHouse whose disk fills refuses the write with
// store.ErrFull and keeps nothing of it; every acknowledged write is
// still there, and the server still answers.
func TestDiskFull(t *testing.T) {
	requireServer(t)
	netnstest.Require(t) // root, to mount a small file system
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=48m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	srv, err := chtest.StartIn(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	s, err := Open(context.Background(), Config{Addr: srv.Addr, Database: "full"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	typ, rows := storetest.BenchFlows(t, 20000)
	acked := 0
	var werr error
	for range 100 {
		res, err := s.Write(context.Background(), typ, "cluster", rows)
		if err != nil {
			werr = err
			break
		}
		acked += res.Stored
		storetest.ReID(rows)
	}
	if !errors.Is(werr, store.ErrFull) {
		t.Fatalf("after %d records: error %v, want the store's disk is full", acked, werr)
	}
	if n, err := s.Count(context.Background(), typ, store.Query{Cluster: "cluster"}); err != nil || n != int64(acked) {
		t.Errorf("after the full disk: %d records (%v), want the %d acknowledged", n, err, acked)
	}
	t.Logf("%d records fit before the disk was full: %v", acked, werr)
}
