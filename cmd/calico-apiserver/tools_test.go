package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/lab/labtest"
)

// toolRunner runs the lab's build of kubectl or calicoctl against the
// test lab, with stdin, and returns its combined output.
func toolRunner(t *testing.T) func(tool, stdin string, args ...string) (string, error) {
	bin := labtest.Bin(t)
	return func(tool, stdin string, args ...string) (string, error) {
		c := exec.Command(filepath.Join(bin, tool), append([]string{"--kubeconfig", testLab.Config.KubeconfigPath()}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		return string(out), err
	}
}
