// Package datastore is the Kubernetes-API datastore: a client for the
// projectcalico.org/v3 CRDs and for the native objects Calico resources are
// derived from, the start-up initialisation every component relies on
// (built-in tiers, ClusterInformation), installation of the CRDs, and the
// syncer sources that turn watched objects into the model stream.
package datastore
