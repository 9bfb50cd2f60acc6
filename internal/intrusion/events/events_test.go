package events

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/linseedtest"
)

func stored(t *testing.T, ls Linseed) []Event {
	t.Helper()
	var page api.List
	if err := ls.Post(context.Background(), ListPath, api.Params{Sort: []api.SortBy{{Field: "generated_time"}}}, &page); err != nil {
		t.Fatal(err)
	}
	out := make([]Event, len(page.Items))
	for i, it := range page.Items {
		if err := json.Unmarshal(it, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func ev(origin, ns string) Event {
	return Event{ID: ID(origin, ns), Time: 1_700_000_000, Type: TypeSuspiciousFlow, Origin: origin, Severity: 100,
		SourceNamespace: ns, Description: "suspicious flow"}
}

// A batch is written once: the same events again (a search that read the
// same records) add nothing, and generated_time increases across writers
// (a restarted controller continues after the last one).
func TestWriteOnceInOrder(t *testing.T) {
	ctx := context.Background()
	ls := linseedtest.New(t)
	clock := time.Unix(1_800_000_000, 0)
	w := &Writer{Linseed: ls, Now: func() time.Time { return clock }}
	res, err := w.Write(ctx, []Event{ev("feed-a", "dev"), ev("feed-a", "prod"), ev("feed-a", "dev")})
	if err != nil || res.Written != 2 || res.Duplicates != 1 {
		t.Fatalf("first write: %+v %v", res, err)
	}
	res, err = w.Write(ctx, []Event{ev("feed-a", "dev"), ev("feed-b", "dev")})
	if err != nil || res.Written != 1 || res.Duplicates != 1 {
		t.Fatalf("second write: %+v %v", res, err)
	}
	// A new writer (after a restart) whose clock is behind.
	w2 := &Writer{Linseed: ls, Now: func() time.Time { return clock.Add(-time.Hour) }}
	if res, err := w2.Write(ctx, []Event{ev("feed-c", "dev")}); err != nil || res.Written != 1 {
		t.Fatalf("third write: %+v %v", res, err)
	}
	got := stored(t, ls)
	if len(got) != 4 {
		t.Fatalf("%d events stored, want 4", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].GeneratedTime <= got[i-1].GeneratedTime {
			t.Errorf("generated_time not increasing: %d after %d", got[i].GeneratedTime, got[i-1].GeneratedTime)
		}
	}
	if got[3].Origin != "feed-c" {
		t.Errorf("the restarted writer's event is not the last: %+v", got[3])
	}
}

// An exception suppresses what its selector matches while it is in
// force, and nothing before or after.
func TestExceptionsSuppress(t *testing.T) {
	ctx := context.Background()
	ls := linseedtest.New(t)
	now := time.Unix(1_800_000_000, 0)
	excs := []*v3.AlertException{
		{ObjectMeta: metav1.ObjectMeta{Name: "dev-is-noisy"}, Spec: v3.AlertExceptionSpec{Selector: `source_namespace = "dev" AND origin = "feed-a"`,
			StartTime: metav1.NewTime(now.Add(-time.Minute))}},
		{ObjectMeta: metav1.ObjectMeta{Name: "over"}, Spec: v3.AlertExceptionSpec{Selector: `source_namespace = "prod"`,
			StartTime: metav1.NewTime(now.Add(-time.Hour)), EndTime: ptr(metav1.NewTime(now.Add(-time.Minute)))}},
		{ObjectMeta: metav1.ObjectMeta{Name: "later"}, Spec: v3.AlertExceptionSpec{Selector: `severity >= 50`,
			StartTime: metav1.NewTime(now.Add(time.Hour))}},
	}
	w := &Writer{Linseed: ls, Now: func() time.Time { return now }, Exceptions: func(context.Context) ([]*v3.AlertException, error) { return excs, nil }}
	res, err := w.Write(ctx, []Event{ev("feed-a", "dev"), ev("feed-b", "dev"), ev("feed-a", "prod")})
	if err != nil || res.Written != 2 || res.Suppressed != 1 {
		t.Fatalf("write: %+v %v", res, err)
	}
	for _, e := range stored(t, ls) {
		if e.Origin == "feed-a" && e.SourceNamespace == "dev" {
			t.Errorf("suppressed event stored: %+v", e)
		}
	}
}

func ptr[T any](v T) *T { return &v }
