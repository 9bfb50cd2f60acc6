// Package archtest holds tests that keep the code base's layering honest:
// pure-logic packages import no clients, kernel access or subprocesses, and
// every package says what it is for.
package archtest
