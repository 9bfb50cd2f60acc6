// Package netnstest creates throwaway network namespaces for tests that
// need the real kernel (nftables, routes, veths, traffic). Every
// namespace is named with the "cngt-" prefix and removed when the test
// ends, pass or fail; anything a test leaves inside goes with it.
package netnstest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "cngt-"

// Require ends the test (see Missing) unless it runs as root with
// iproute2 and nft.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root")
	}
	RequireBinaries(t, "ip", "nft")
}

// RequireBinaries ends the test (see Missing) unless every program is on
// the PATH.
func RequireBinaries(t testing.TB, bins ...string) {
	t.Helper()
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			Missing(t, "needs %s: %v", bin, err)
		}
	}
}

// Missing ends a test whose prerequisite is missing: with CALICO_BIN set
// (`make test`, and so CI, which installs every prerequisite) that is a
// failure, so a broken machine cannot pass by skipping; elsewhere (a
// plain `go test` on a workstation) the test is skipped.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CALICO_BIN") != "" {
		t.Fatalf("missing prerequisite (CALICO_BIN is set, so nothing may be skipped): "+format, args...)
	}
	t.Skipf(format, args...)
}

// New creates a namespace and returns its name; it is deleted when the
// test ends.
func New(t testing.TB, purpose string) string {
	t.Helper()
	name := fmt.Sprintf("%s%s-%06x", Prefix, purpose, rand.IntN(1<<24))
	if len(name) > 40 {
		name = name[:40]
	}
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		// Killing processes is the caller's business; the namespace's
		// links and tables vanish with it.
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	Run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// Run runs a command and fails the test if it fails.
func Run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// Exec prefixes a command line to run it in a namespace.
func Exec(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// Handle is a netlink handle working in the namespace, closed when the
// test ends.
func Handle(t testing.TB, ns string) *netlink.Handle {
	t.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nl.Close)
	return nl
}
