// Package e2e holds end-to-end tests: several hosts in network namespaces
// (internal/multihost), each running calico-node against the lab's real
// control plane, pods wired by the real CNI plugin, and traffic between
// them.
package e2e
