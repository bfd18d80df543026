package templates

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// cannedFS holds the built-in canned responses, canned/NAME.txt.
//
//go:embed canned/*.txt
var cannedFS embed.FS

// Canned returns the canned responses agents send with /reply NAME: the
// built-in ones, each replaced (and others added) by overrideDir/canned/NAME.txt.
// The texts are text/template sources over the ticket's fields.
func Canned(overrideDir string) (map[string]string, error) {
	out := map[string]string{}
	read := func(fsys fs.FS) error {
		names, err := fs.Glob(fsys, "canned/*.txt")
		if err != nil {
			return err
		}
		for _, n := range names {
			b, err := fs.ReadFile(fsys, n)
			if err != nil {
				return fmt.Errorf("canned response %s: %w", n, err)
			}
			out[strings.TrimSuffix(filepath.Base(n), ".txt")] = string(b)
		}
		return nil
	}
	if err := read(cannedFS); err != nil {
		return nil, err
	}
	if overrideDir != "" {
		if err := read(os.DirFS(overrideDir)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
