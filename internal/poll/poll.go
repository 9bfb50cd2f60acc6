// Package poll waits, in tests, for a condition to hold: it checks the
// condition every 50 ms until a deadline, instead of sleeping for a
// guessed time, and fails the test saying what it waited for.
package poll

import (
	"testing"
	"time"
)

// Interval is how often a condition is checked.
const Interval = 50 * time.Millisecond

// Until ends the test (t.Fatalf) unless cond holds within d; what says
// what was awaited. With detail, the value it points to when the deadline
// passed (the last thing cond saw, say) is added to the failure.
func Until(t testing.TB, d time.Duration, what string, cond func() bool, detail ...*string) {
	t.Helper()
	if !Within(d, cond) {
		msg := ""
		for _, s := range detail {
			if s != nil && *s != "" {
				msg += "\n" + *s
			}
		}
		t.Fatalf("timed out after %v waiting for %s%s", d, what, msg)
	}
}

// Within reports whether cond holds within d (for tests that wait for
// something that may rightly not happen).
func Within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Interval)
	}
	return true
}
