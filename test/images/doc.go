// Package images tests the product's images (the Dockerfile at the
// repository root) without a Docker engine: the Dockerfile is parsed with
// BuildKit's own parser and checked against the Makefile (its build stage
// runs `make build-product`, the recipe `make build` runs), the binaries
// `make build` produced (each one copied exists, is static and reports the
// stamped version) and the manifests (every image they name is a target,
// every program they run is in it, and non-root containers get a numeric
// user). It is a module of its own so BuildKit's dependencies stay out of
// the product's go.mod.
package images
