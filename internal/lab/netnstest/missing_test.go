package netnstest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissingPrerequisiteFailsUnderMakeTest runs a test whose prerequisite
// is missing in a child process: with CALICO_BIN set it fails, without it
// is skipped.
func TestMissingPrerequisiteFailsUnderMakeTest(t *testing.T) {
	if os.Getenv("NETNSTEST_CHILD") == "1" {
		RequireBinaries(t, "no-such-program-cngt")
		t.Log("reached past a missing prerequisite")
		return
	}
	for _, c := range []struct {
		bin      string
		wantFail bool
		want     string
	}{{"/some/bin", true, "missing prerequisite"}, {"", false, "SKIP"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingPrerequisiteFailsUnderMakeTest$", "-test.v")
		cmd.Env = append(os.Environ(), "NETNSTEST_CHILD=1", "CALICO_BIN="+c.bin)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != c.wantFail || !strings.Contains(string(out), c.want) || strings.Contains(string(out), "reached past") {
			t.Errorf("CALICO_BIN=%q: failed=%v, want %v; output:\n%s", c.bin, failed, c.wantFail, out)
		}
	}
}
