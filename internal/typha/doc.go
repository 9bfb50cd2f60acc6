// Package typha holds calico-typha's parts: the wire protocol (wire), the
// snapshot cache with its breadcrumbs (snapcache), the sync server
// (server), the client used by calico-node (client), replica discovery
// (discovery) and mutual TLS (tlsauth). This package itself has only the
// fan-out benchmarks; docs/typha.md describes the design.
package typha
