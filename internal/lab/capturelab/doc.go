// Package capturelab tests packet capture in a whole lab (its tests are
// all it has); a package of its own, it runs beside the other lab tests.
package capturelab
