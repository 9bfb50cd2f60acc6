// Package lab runs the local lab: a real Kubernetes control plane (embedded
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler from the
// kube-lab binary) with the Calico resources installed, managed as a set of
// processes under a small supervisor.
//
// Life cycle:
//
//   - Up validates the configuration, refuses if a port is taken, writes a
//     fresh PKI and kubeconfigs into the state directory, starts the
//     supervisor (`calico-lab supervise`) in its own session and follows its
//     status file until every component is healthy, then installs the CRDs
//     and built-in objects.
//   - The supervisor starts the components in order, each only after the
//     previous one is healthy, restarts any that exits (with back-off), and
//     on SIGTERM stops them in reverse order. Components are started with a
//     parent-death signal, so killing the supervisor never strands them.
//   - Down stops the supervisor and any component it recorded, identified by
//     PID and verified against /proc/PID/cmdline before any signal is sent,
//     then removes the state directory (only if it carries lab.json).
package lab
