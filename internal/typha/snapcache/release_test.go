package snapcache

import (
	"testing"
	"time"

	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/typha/typhatest"
)

// A built snapshot is let go once stale, so it does not pin the crumbs
// published after it while no client connects.
func TestStaleSnapshotIsReleased(t *testing.T) {
	c := New(Config{SyncerType: "felix", SnapshotReuse: 20 * time.Millisecond})
	c.OnUpdates([]model.Update{typhatest.WEP(1, 1, 1, "a", 1)})
	if _, err := c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	typhatest.Eventually(t, 5*time.Second, func() string {
		if c.snap.Load() != nil {
			return "the stale snapshot is still held"
		}
		return ""
	})
}
