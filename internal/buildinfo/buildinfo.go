// Package buildinfo carries the version stamped into every binary at build
// time (`-ldflags -X .../internal/buildinfo.Version=...`).
package buildinfo

import (
	"flag"
	"fmt"
	"os"
)

// Version is the product version; "dev" for unstamped builds.
var Version = "dev"

// Product is the name reported in ClusterInformation and version output.
const Product = "Calico"

// String is how a program names its version: "calico-node v0.1.0".
func String(program string) string { return program + " " + Version }

// VersionFlag registers --version on the program's command line. The
// function it returns, called after flag.Parse, prints the version and
// exits when the flag was given.
func VersionFlag(program string) func() {
	asked := flag.Bool("version", false, "print the version and exit")
	return func() {
		if *asked {
			fmt.Println(String(program))
			os.Exit(0)
		}
	}
}

// AskedForVersion reports whether args (without the program name) are
// just a request for the version (-v, -version or --version), for
// programs without a flag set, such as the CNI plugins.
func AskedForVersion(args []string) bool {
	return len(args) == 1 && (args[0] == "-v" || args[0] == "-version" || args[0] == "--version")
}
