// Package bench measures the console's server side and its first load
// (issue 22's `make bench` figures): the service graph's and the flows
// page's API over a million stored flow logs, a policy preview over a
// hundred thousand, the console's first load in Chromium, and the size of
// its JavaScript bundle. It holds benchmarks only.
package bench
