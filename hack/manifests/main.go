// Command manifests writes manifests/ from internal/manifests (make
// manifests); a test fails when the committed files differ.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/calicong/calico/internal/manifests"
)

func main() {
	dir := "manifests"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	files, err := manifests.Files()
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	for name, data := range files {
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
}
