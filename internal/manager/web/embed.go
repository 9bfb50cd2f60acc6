// Package web holds the console, built: app/ is its TypeScript source
// (a Vite project, its own npm package), and `make build` writes the
// bundle into dist/, which this package embeds into calico-manager. A
// build without it (a plain `go build`) embeds nothing, and the manager
// says so instead of serving a console.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Assets is the built console, index.html at its root.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is always embedded
	}
	return sub
}
