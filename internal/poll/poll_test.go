package poll

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	n := 0
	if !Within(5*time.Second, func() bool { n++; return n == 3 }) || n != 3 {
		t.Errorf("a condition that holds on the third check: n=%d", n)
	}
	start := time.Now()
	if Within(120*time.Millisecond, func() bool { return false }) {
		t.Error("a condition that never holds was reported as holding")
	}
	if e := time.Since(start); e < 120*time.Millisecond {
		t.Errorf("gave up after %v, before the deadline", e)
	}
}

// TestUntilFailsSayingWhat runs a failing Until in a child process.
func TestUntilFailsSayingWhat(t *testing.T) {
	if os.Getenv("POLL_CHILD") == "1" {
		last := "the last state seen"
		Until(t, 100*time.Millisecond, "the moon to rise", func() bool { return false }, &last)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUntilFailsSayingWhat$")
	cmd.Env = append(os.Environ(), "POLL_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "waiting for the moon to rise") || !strings.Contains(string(out), "the last state seen") {
		t.Errorf("a failing Until: %v\n%s", err, out)
	}
}
