package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/linseed/store/storetest"
	"golang.org/x/sys/unix"
)

func open(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t testing.TB) store.Store { return open(t, filepath.Join(t.TempDir(), "logs.db")) },
		Reopen: func(t testing.TB, s store.Store) store.Store {
			path := s.(*Store).path
			s.Close()
			return open(t, path)
		},
	})
}

// BenchmarkIngest writes flow logs in batches of 1,000 (as the bulk API
// does) and reports flow logs per second.
func BenchmarkIngest(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "logs.db"))
	typ, rows := storetest.BenchFlows(b, 20000)
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for i := 0; i < len(rows); i += 1000 {
			if _, err := s.Write(context.Background(), typ, "cluster", rows[i:i+1000]); err != nil {
				b.Fatal(err)
			}
		}
		n += len(rows)
		storetest.ReID(rows)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
}

// TestDiskFull: on a full disk a write fails with store.ErrFull and
// keeps nothing of itself; every write acknowledged before is intact and
// the database is sound.
func TestDiskFull(t *testing.T) {
	netnstest.Require(t) // root, to mount a small file system
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	path := filepath.Join(dir, "logs.db")
	s, err := Open(context.Background(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	typ, rows := storetest.BenchFlows(t, 20000)
	acked := 0
	var werr error
	for i := 0; i < len(rows); i += 100 {
		res, err := s.Write(context.Background(), typ, "cluster", rows[i:i+100])
		if err != nil {
			werr = err
			break
		}
		acked += res.Stored
	}
	if !errors.Is(werr, store.ErrFull) || !strings.Contains(werr.Error(), "disk is full") {
		t.Fatalf("after %d records: error %v, want the store's disk is full", acked, werr)
	}
	s.Close()
	s = open(t, path)
	if n, err := s.Count(context.Background(), typ, store.Query{Cluster: "cluster"}); err != nil || n != int64(acked) {
		t.Errorf("after the full disk: %d records (%v), want the %d acknowledged", n, err, acked)
	}
	var check string
	if err := s.db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity check: %q (%v)", check, err)
	}
	t.Logf("%d records fit before the disk was full", acked)
}
