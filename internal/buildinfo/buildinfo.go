// Package buildinfo carries the version stamped into every binary at build
// time (`-ldflags -X .../internal/buildinfo.Version=...`).
package buildinfo

// Version is the product version; "dev" for unstamped builds.
var Version = "dev"

// Product is the name reported in ClusterInformation and version output.
const Product = "Calico"
