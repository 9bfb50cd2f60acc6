package schedule

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestDue(t *testing.T) {
	hourly, _ := cron.ParseStandard("0 * * * *")
	created := time.Date(2026, 12, 1, 10, 7, 0, 0, time.UTC)
	delay := 30 * time.Minute
	// Before 11:30 nothing is due; then 10:00-11:00.
	if got := Due(hourly, created, time.Time{}, created.Add(time.Hour), delay); len(got) != 0 {
		t.Errorf("at 11:07: %v, want nothing", got)
	}
	at := time.Date(2026, 12, 1, 11, 30, 0, 0, time.UTC)
	got := Due(hourly, created, time.Time{}, at, delay)
	if len(got) != 1 || !got[0].Start.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) || !got[0].End.Equal(time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("at 11:30: %v, want 10:00-11:00", got)
	}
	// Scheduled: the next is 11:00-12:00, due at 12:30; never the same twice.
	if got := Due(hourly, created, got[0].End, at, delay); len(got) != 0 {
		t.Errorf("again at 11:30: %v, want nothing", got)
	}
	if n := Next(hourly, created, got0End(), delay); !n.Equal(time.Date(2026, 12, 1, 12, 30, 0, 0, time.UTC)) {
		t.Errorf("next due at %v, want 12:30", n)
	}
	// Down for five hours: the missed intervals, in order, each once.
	later := time.Date(2026, 12, 1, 16, 45, 0, 0, time.UTC)
	missed := Due(hourly, created, got0End(), later, delay)
	if len(missed) != 5 || !missed[0].Start.Equal(got0End()) || !missed[4].End.Equal(time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("after five hours down: %v", missed)
	}
	for i := 1; i < len(missed); i++ {
		if !missed[i].Start.Equal(missed[i-1].End) {
			t.Errorf("interval %d does not start where %d ended: %v", i, i-1, missed)
		}
	}
	// A week down: at most MaxCatchUp at a time.
	if n := len(Due(hourly, created, got0End(), later.Add(7*24*time.Hour), delay)); n != MaxCatchUp {
		t.Errorf("a week down: %d intervals at once, want %d", n, MaxCatchUp)
	}
	// Every five minutes, created on a run.
	five, _ := cron.ParseStandard("*/5 * * * *")
	c := time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)
	if got := Due(five, c, time.Time{}, c.Add(10*time.Minute), 0); len(got) != 2 || !got[0].Start.Equal(c) {
		t.Errorf("five-minutely: %v", got)
	}
}

func got0End() time.Time { return time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC) }
