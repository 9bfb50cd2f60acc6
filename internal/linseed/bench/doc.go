// Package bench holds Linseed's end-to-end benchmark (make bench): flow
// logs ingested through the bulk API over TLS into each real store,
// console-style queries over the stored logs, and the disk each flow log
// takes. It has no code of its own; see bench_test.go.
package bench
