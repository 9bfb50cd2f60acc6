// Package ipam hands out pod addresses with Calico's model: IP pools are
// carved into blocks (the unit of compare-and-swap writes and of route
// advertisement), nodes claim blocks through two-phase block affinities
// (pending, then confirmed), and every allocation carries a handle and its
// owner's attributes. A node borrows from other nodes' blocks only when
// strict affinity is off; IPReservations are never handed out.
//
// Every write is a compare-and-swap on the object's resourceVersion,
// retried on conflict, and a release may name the block's sequence number
// at allocation so that a stale release cannot free an address that has
// since been handed to someone else. The order of writes is chosen so that
// a crash at any point leaves nothing that `Check` does not report and
// garbage collection does not reclaim: the handle is counted up before the
// block is written, and counted down after.
//
// The package works through Store (the Kubernetes API in production, see
// internal/ipam/kdd; an in-memory store in tests) and imports no client.
package ipam
