// Package schedule says which intervals of a GlobalReport are due: each
// run of its cron schedule ends an interval that began at the previous
// run, and an interval is due once its end plus a settling delay (for
// logs to reach the store) has passed. It is pure, and remembers nothing:
// the controller passes in the end of the last interval it scheduled
// (the report's status), so no interval runs twice and none is skipped
// across restarts.
package schedule

import (
	"time"

	"github.com/robfig/cron/v3"
)

// Interval is one report run's [Start, End).
type Interval struct {
	Start, End time.Time
}

// MaxCatchUp bounds how many missed intervals one call returns (a
// controller that was down for a week does not start hundreds of jobs
// at once; the rest come on later calls).
const MaxCatchUp = 12

// Due lists the intervals due at now, oldest first: those ending after
// last (the end of the last interval scheduled; zero for a new report,
// whose first interval ends at the first run after created), whose end
// plus delay is not after now.
func Due(sched cron.Schedule, created, last, now time.Time, delay time.Duration) []Interval {
	var out []Interval
	start := last
	if start.IsZero() {
		// A new report's first interval runs from the run before its
		// creation to the first run after it (a report made at 10:07 with
		// an hourly schedule covers 10:00 to 11:00 first).
		start = previous(sched, created)
	}
	for len(out) < MaxCatchUp {
		end := sched.Next(start)
		if end.IsZero() || end.Add(delay).After(now) {
			break
		}
		out = append(out, Interval{Start: start, End: end})
		start = end
	}
	return out
}

// Next is when the next interval after last (or a new report's first)
// becomes due: for the controller's timer.
func Next(sched cron.Schedule, created, last time.Time, delay time.Duration) time.Time {
	start := last
	if start.IsZero() {
		start = previous(sched, created)
	}
	return sched.Next(start).Add(delay)
}

// previous is the schedule's last run at or before t (cron schedules
// only go forwards: step back until a run lands at or before t).
func previous(sched cron.Schedule, t time.Time) time.Time {
	for back := time.Minute; back <= 366*24*time.Hour; back *= 2 {
		from := t.Add(-back)
		run := sched.Next(from)
		if run.After(t) {
			continue
		}
		// The last run in (from, t].
		for {
			n := sched.Next(run)
			if n.After(t) {
				return run
			}
			run = n
		}
	}
	return t.Truncate(time.Minute)
}
