// Package conversion turns native Kubernetes objects into the Calico
// resources they stand for: Pods into WorkloadEndpoints, Namespaces and
// ServiceAccounts into Profiles, and NetworkPolicies into Calico policies in
// the default tier. It is pure: no clients, no I/O.
package conversion
