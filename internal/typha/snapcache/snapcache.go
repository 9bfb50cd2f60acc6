// Package snapcache is Typha's cache: the current state of one syncer,
// every value encoded once, and a chain of breadcrumbs (the deltas since
// the state was first built) that each client follows at its own pace.
//
// The cache is fed by one syncer (OnUpdates / OnStatusUpdated). No-op
// updates, whose encoded value equals the cached one, are dropped. A new
// client takes a Snapshot: the compressed state as of some breadcrumb,
// shared by every client that connects while it is fresh, and then follows
// that breadcrumb's successors. Crumbs are immutable; a client that stalls
// pins the crumbs after its position and nothing else, so it never slows
// the others.
package snapcache

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/typha/wire"
)

// Config configures a Cache.
type Config struct {
	// SyncerType labels the metrics, e.g. "felix".
	SyncerType string
	// MaxBatch bounds the updates in one breadcrumb (and one KVs frame).
	// Default 100.
	MaxBatch int
	// SnapshotReuse is how long a built snapshot is handed to new clients
	// before a fresher one is built. Default 1 s.
	SnapshotReuse time.Duration
	// Metrics, when set, receives the cache's figures.
	Metrics *Metrics
	Log     *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Crumb is one step of the chain: the frames that take a client from the
// previous crumb's state to this one's.
type Crumb struct {
	Seq uint64
	// Frames are ready to write: one KVs frame or one Status frame.
	Frames []byte
	// KVs is the number of updates in Frames.
	KVs int
	// Time is when the crumb was published.
	Time time.Time

	next  atomic.Pointer[Crumb]
	ready chan struct{} // closed once next is set
}

// Next waits for the crumb after c. It returns nil when ctx ends first.
func (c *Crumb) Next(ctx context.Context) *Crumb {
	if n := c.next.Load(); n != nil {
		return n
	}
	select {
	case <-c.ready:
		return c.next.Load()
	case <-ctx.Done():
		return nil
	}
}

// TryNext returns the crumb after c if it has been published.
func (c *Crumb) TryNext() *Crumb { return c.next.Load() }

// Ready is closed once the crumb after c is published.
func (c *Crumb) Ready() <-chan struct{} { return c.ready }

// Snapshot is the whole state as of Crumb, as one ready-to-write Snapshot
// frame.
type Snapshot struct {
	Crumb *Crumb
	// Frame is the Snapshot frame: a compressed stream of KVs frames
	// followed by a Status frame.
	Frame []byte
	// KVs is the number of entries; RawBytes the uncompressed size.
	KVs      int
	RawBytes int
	Built    time.Time
}

// value is one cached key's current encoding.
type value struct {
	entry []byte // the entry as first published
	val   []byte // the encoded value within entry
	has   bool
}

// Cache is the state of one syncer plus its breadcrumbs.
type Cache struct {
	cfg Config

	mu     sync.Mutex
	state  map[model.Key]value
	status model.SyncStatus
	tail   *Crumb

	snapMu  sync.Mutex // serialises snapshot builds
	snap    atomic.Pointer[Snapshot]
	scratch []byte
}

// New creates an empty cache in WaitForDatastore.
func New(cfg Config) *Cache {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 100
	}
	if cfg.SnapshotReuse <= 0 {
		cfg.SnapshotReuse = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Cache{cfg: cfg, state: map[model.Key]value{}, status: model.WaitForDatastore}
	c.tail = &Crumb{Time: cfg.Now(), ready: make(chan struct{})}
	return c
}

// OnStatusUpdated records the syncer's status and publishes it.
func (c *Cache) OnStatusUpdated(s model.SyncStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == c.status {
		return
	}
	c.status = s
	c.publishLocked(wire.AppendStatusFrame(nil, s), 0)
}

// OnUpdates encodes each update once, drops the no-ops and publishes the
// rest in crumbs of at most MaxBatch updates. It is called from one
// goroutine (the syncer's).
func (c *Cache) OnUpdates(us []model.Update) {
	var entries [][]byte
	var keys []model.Key
	var vals []value
	skipped := 0
	flush := func() {
		if len(entries) == 0 {
			return
		}
		frame := wire.AppendKVsFrame(nil, entries)
		c.mu.Lock()
		for i, k := range keys {
			if vals[i].entry == nil {
				delete(c.state, k)
			} else {
				c.state[k] = vals[i]
			}
		}
		c.publishLocked(frame, len(entries))
		c.mu.Unlock()
		entries, keys, vals = entries[:0], keys[:0], vals[:0]
	}
	// Reads of c.state outside the lock are safe: only this goroutine
	// writes it.
	pending := map[model.Key]int{} // key → index in this batch
	for _, u := range us {
		prev, known := c.state[u.Key]
		if i, ok := pending[u.Key]; ok {
			prev, known = vals[i], vals[i].entry != nil
		}
		var v value
		if u.UpdateType == model.UpdateTypeDeleted {
			if !known {
				skipped++
				continue
			}
			v = value{}
			entries = append(entries, wire.AppendEntry(nil, model.UpdateTypeDeleted, u.Key, u.Revision, nil, false))
		} else {
			var enc []byte
			has := u.Value != nil
			if has {
				var err error
				enc, err = wire.EncodeValue(u.Key, u.Value)
				if err != nil {
					// Clients would have to drop it: send it as invalid.
					c.cfg.Log.Warn("cannot encode value; sending it as invalid", "key", u.Key.String(), "err", err)
					has = false
				}
			}
			if known && prev.has == has && bytes.Equal(prev.val, enc) {
				skipped++
				continue
			}
			t := model.UpdateTypeNew
			if known {
				t = model.UpdateTypeUpdated
			}
			e := wire.AppendEntry(nil, t, u.Key, u.Revision, enc, has)
			v = value{entry: e, val: e[len(e)-len(enc):], has: has}
			entries = append(entries, e)
		}
		pending[u.Key] = len(vals)
		keys = append(keys, u.Key)
		vals = append(vals, v)
		if len(entries) >= c.cfg.MaxBatch {
			flush()
			clear(pending)
		}
	}
	flush()
	if m := c.cfg.Metrics; m != nil {
		m.updates.WithLabelValues(c.cfg.SyncerType).Add(float64(len(us)))
		m.skipped.WithLabelValues(c.cfg.SyncerType).Add(float64(skipped))
		c.mu.Lock()
		m.size.WithLabelValues(c.cfg.SyncerType).Set(float64(len(c.state)))
		m.seq.WithLabelValues(c.cfg.SyncerType).Set(float64(c.tail.Seq))
		c.mu.Unlock()
	}
}

func (c *Cache) publishLocked(frames []byte, kvs int) {
	n := &Crumb{Seq: c.tail.Seq + 1, Frames: frames, KVs: kvs, Time: c.cfg.Now(), ready: make(chan struct{})}
	old := c.tail
	c.tail = n
	old.next.Store(n)
	close(old.ready)
}

// Len is the number of keys in the cache.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.state)
}

// Tail is the newest crumb.
func (c *Cache) Tail() *Crumb {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tail
}

// Snapshot returns a snapshot no older than SnapshotReuse, building one if
// needed. Concurrent callers share one build.
func (c *Cache) Snapshot() (*Snapshot, error) {
	if s := c.snap.Load(); s != nil && c.cfg.Now().Sub(s.Built) < c.cfg.SnapshotReuse {
		c.countSnapshot(false)
		return s, nil
	}
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	if s := c.snap.Load(); s != nil && c.cfg.Now().Sub(s.Built) < c.cfg.SnapshotReuse {
		c.countSnapshot(false)
		return s, nil
	}
	s, err := c.build()
	if err != nil {
		return nil, err
	}
	c.snap.Store(s)
	// Let go of it once stale: a held snapshot pins every crumb after
	// its own, and with no new clients nothing else would replace it.
	time.AfterFunc(c.cfg.SnapshotReuse, func() { c.snap.CompareAndSwap(s, nil) })
	c.countSnapshot(true)
	return s, nil
}

func (c *Cache) countSnapshot(built bool) {
	m := c.cfg.Metrics
	if m == nil {
		return
	}
	if built {
		s := c.snap.Load()
		m.generated.WithLabelValues(c.cfg.SyncerType).Inc()
		m.rawBytes.WithLabelValues(c.cfg.SyncerType).Set(float64(s.RawBytes))
		m.compressedBytes.WithLabelValues(c.cfg.SyncerType).Set(float64(len(s.Frame)))
	} else {
		m.reused.WithLabelValues(c.cfg.SyncerType).Inc()
	}
}

// build encodes the state as of the current tail. Entries are immutable,
// so only the list of them is taken under the lock.
func (c *Cache) build() (*Snapshot, error) {
	c.mu.Lock()
	entries := make([][]byte, 0, len(c.state))
	for _, v := range c.state {
		entries = append(entries, v.entry)
	}
	crumb, status := c.tail, c.status
	c.mu.Unlock()

	var comp bytes.Buffer
	w := s2.NewWriter(&comp, s2.WriterConcurrency(1))
	raw := 0
	buf := c.scratch[:0]
	for start := 0; start < len(entries); start += c.cfg.MaxBatch {
		end := min(start+c.cfg.MaxBatch, len(entries))
		// Snapshot entries are all new to the client.
		buf = wire.AppendKVsFrameAs(buf, entries[start:end], model.UpdateTypeNew)
		if len(buf) > 1<<20 {
			raw += len(buf)
			if _, err := w.Write(buf); err != nil {
				return nil, err
			}
			buf = buf[:0]
		}
	}
	buf = wire.AppendStatusFrame(buf, status)
	raw += len(buf)
	if _, err := w.Write(buf); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	c.scratch = buf[:0]
	frame := wire.AppendFrame(make([]byte, 0, comp.Len()+12), wire.MsgSnapshot, comp.Bytes())
	return &Snapshot{Crumb: crumb, Frame: frame, KVs: len(entries), RawBytes: raw, Built: c.cfg.Now()}, nil
}
