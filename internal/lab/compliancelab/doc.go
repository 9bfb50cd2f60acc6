// Package compliancelab tests compliance in a whole lab (its tests are
// all it has). It is a package of its own so that its wait for a report
// interval to end overlaps the other lab tests: go test runs packages in
// parallel.
package compliancelab
