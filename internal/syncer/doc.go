// Package syncer feeds the model stream (internal/model) from the
// Kubernetes API: one reflector per watched resource type, conversion at the
// boundary, dedupe by resourceVersion, mark-and-sweep on every relist, and
// the WaitForDatastore → ResyncInProgress → InSync status. See
// docs/datastore.md for the contract and how it is tested.
package syncer
