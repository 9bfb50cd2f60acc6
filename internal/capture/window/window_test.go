package window

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

func TestWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	at := func(m int) *metav1.Time { v := metav1.NewTime(t0.Add(time.Duration(m) * time.Minute)); return &v }
	spec := v3.PacketCaptureSpec{StartTime: at(5), EndTime: at(10)}
	for _, c := range []struct {
		m       int
		packets bool
		open    bool
		state   v3.PacketCaptureState
		next    *metav1.Time
	}{
		{0, false, false, v3.PacketCaptureStateScheduled, at(5)},
		{5, false, true, v3.PacketCaptureStateWaitingForTraffic, at(10)},
		{7, true, true, v3.PacketCaptureStateCapturing, at(10)},
		{10, true, false, v3.PacketCaptureStateFinished, nil},
	} {
		now := t0.Add(time.Duration(c.m) * time.Minute)
		if got := Open(spec, now); got != c.open {
			t.Errorf("minute %d: open %v", c.m, got)
		}
		if got := State(spec, now, c.packets, false); got != c.state {
			t.Errorf("minute %d: state %s, want %s", c.m, got, c.state)
		}
		want := time.Time{}
		if c.next != nil {
			want = c.next.Time
		}
		if got := Next(spec, now); !got.Equal(want) {
			t.Errorf("minute %d: next %v, want %v", c.m, got, want)
		}
	}
	// Unset times: from now on, for ever; an error wins.
	if !Open(v3.PacketCaptureSpec{}, t0) || !Next(v3.PacketCaptureSpec{}, t0).IsZero() {
		t.Error("an unbounded capture is not open for ever")
	}
	if State(spec, t0.Add(7*time.Minute), true, true) != v3.PacketCaptureStateError {
		t.Error("a failed capture is not in Error")
	}
}
