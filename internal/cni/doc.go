// Package cni implements the `calico` and `calico-ipam` CNI plugins (CNI
// spec 1.1: ADD, DEL, CHECK, STATUS, GC, VERSION).
//
// `calico` wires a pod: it asks the IPAM plugin named in the configuration
// for addresses, creates the veth pair (host side cali<hash>, pod side
// eth0), the pod's routes via 169.254.1.1 (IPv6: the host side's
// link-local address), the host-side settings Felix expects and the
// host routes, and records the addresses in the pod's annotations, where
// the Kubernetes datastore turns them into the WorkloadEndpoint Felix
// polices. `calico-ipam` allocates from internal/ipam under a host-wide
// lock, with the handle "<network>.<containerID>".
//
// Every failure is a CNI error object: code 7 for a configuration that
// cannot work (the message names the field), 4 for missing CNI_ARGS, 11
// when the datastore cannot be reached (the runtime retries), and plugin
// codes from 100 for allocation failures (pool exhausted, no usable pool).
// An ADD that fails after allocating releases what it took, and only that;
// an ADD for an attachment that exists returns the same result and changes
// nothing; DEL is idempotent.
package cni
