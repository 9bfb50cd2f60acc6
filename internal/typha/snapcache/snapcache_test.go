package snapcache_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/typha/snapcache"
	"github.com/calicong/calico/internal/typha/typhatest"
	"github.com/calicong/calico/internal/typha/wire"
)

// replay applies frames (KVs and Status) to a state.
func replay(t *testing.T, s typhatest.State, frames []byte) (model.SyncStatus, int) {
	t.Helper()
	r := wire.NewReader(bytes.NewReader(frames))
	status, n := model.SyncStatus(255), 0
	for {
		typ, p, err := r.Next()
		if err != nil {
			return status, n
		}
		switch typ {
		case wire.MsgStatus:
			status = model.SyncStatus(p[0])
		case wire.MsgKVs:
			if err := wire.Entries(p, func(e wire.Entry) error {
				u, err := wire.DecodeUpdate(e)
				s.Apply([]model.Update{u})
				n++
				return err
			}); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected %s frame", typ)
		}
	}
}

func snapshotState(t *testing.T, snap *snapcache.Snapshot) (typhatest.State, model.SyncStatus) {
	t.Helper()
	typ, p, err := wire.NewReader(bytes.NewReader(snap.Frame)).Next()
	if err != nil || typ != wire.MsgSnapshot {
		t.Fatalf("snapshot frame: %v %v", typ, err)
	}
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(s2.NewReader(bytes.NewReader(p))); err != nil {
		t.Fatal(err)
	}
	if raw.Len() != snap.RawBytes {
		t.Errorf("snapshot says %d raw bytes, decompressed to %d", snap.RawBytes, raw.Len())
	}
	s := typhatest.State{}
	status, _ := replay(t, s, raw.Bytes())
	return s, status
}

func TestSnapshotThenCrumbsEqualsTheSource(t *testing.T) {
	c := snapcache.New(snapcache.Config{SyncerType: "felix", SnapshotReuse: time.Nanosecond})
	truth := typhatest.State{}
	feed := func(us []model.Update) {
		truth.Apply(us)
		c.OnUpdates(us)
	}
	var initial []model.Update
	for i := range 250 {
		initial = append(initial, typhatest.WEP(i, 5, 3, "a", i+1))
	}
	feed(initial)
	c.OnStatusUpdated(model.InSync)
	if c.Len() != 250 {
		t.Fatalf("cache holds %d keys", c.Len())
	}
	snap, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	got, status := snapshotState(t, snap)
	if d := got.Diff(truth); d != "" || status != model.InSync {
		t.Fatalf("snapshot: status %s, diff %s", status, d)
	}
	if len(snap.Frame) >= snap.RawBytes/2 {
		t.Errorf("snapshot of %d raw bytes compressed only to %d", snap.RawBytes, len(snap.Frame))
	}

	// Churn after the snapshot: a client following its crumbs ends where
	// the source is.
	feed([]model.Update{typhatest.WEP(3, 5, 3, "b", 1000), typhatest.Delete(initial[4].Key, 1001)})
	feed([]model.Update{typhatest.WEP(300, 5, 3, "a", 1002)})
	seq := c.Tail().Seq
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for cr := snap.Crumb; cr.Seq < seq; {
		cr = cr.Next(ctx)
		if cr == nil {
			t.Fatal("crumb chain ended early")
		}
		replay(t, got, cr.Frames)
	}
	if d := got.Diff(truth); d != "" {
		t.Fatalf("after crumbs: %s", d)
	}
}

func TestNoOpUpdatesAreDropped(t *testing.T) {
	c := snapcache.New(snapcache.Config{SyncerType: "felix"})
	c.OnUpdates([]model.Update{typhatest.WEP(1, 1, 1, "a", 1)})
	before := c.Tail().Seq
	// Same content, new resourceVersion (a pod status change); a delete of
	// something never seen.
	c.OnUpdates([]model.Update{typhatest.WEP(1, 1, 1, "a", 2), typhatest.Delete(model.Key{Kind: "Tier", Name: "never"}, 3)})
	if c.Tail().Seq != before {
		t.Fatalf("no-op updates published a crumb (seq %d → %d)", before, c.Tail().Seq)
	}
	c.OnUpdates([]model.Update{typhatest.WEP(1, 1, 1, "b", 4)})
	tail := c.Tail()
	if tail.Seq != before+1 || tail.KVs != 1 {
		t.Fatalf("a real change: seq %d kvs %d", tail.Seq, tail.KVs)
	}
	s := typhatest.State{}
	if _, n := replay(t, s, tail.Frames); n != 1 {
		t.Fatalf("crumb holds %d updates", n)
	}
}

func TestCrumbsAreBounded(t *testing.T) {
	c := snapcache.New(snapcache.Config{SyncerType: "felix", MaxBatch: 100})
	start := c.Tail()
	var us []model.Update
	for i := range 250 {
		us = append(us, typhatest.WEP(i, 1, 1, "a", i))
	}
	c.OnUpdates(us)
	var sizes []int
	for cr := start.TryNext(); cr != nil; cr = cr.TryNext() {
		sizes = append(sizes, cr.KVs)
	}
	if len(sizes) != 3 || sizes[0] != 100 || sizes[2] != 50 {
		t.Fatalf("crumb sizes %v, want [100 100 50]", sizes)
	}
}

func TestSnapshotIsReusedWhileFresh(t *testing.T) {
	now := time.Unix(1000, 0)
	c := snapcache.New(snapcache.Config{SyncerType: "felix", Now: func() time.Time { return now }})
	c.OnUpdates([]model.Update{typhatest.WEP(1, 1, 1, "a", 1)})
	a, _ := c.Snapshot()
	c.OnUpdates([]model.Update{typhatest.WEP(2, 1, 1, "a", 2)})
	b, _ := c.Snapshot()
	if a != b {
		t.Fatal("a snapshot was rebuilt within its reuse window")
	}
	now = now.Add(2 * time.Second)
	d, _ := c.Snapshot()
	if d == a || d.KVs != 2 {
		t.Fatalf("stale snapshot reused (kvs %d)", d.KVs)
	}
}
