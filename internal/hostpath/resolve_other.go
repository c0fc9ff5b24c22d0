//go:build !windows

package hostpath

import "path/filepath"

// Resolve resolves p against the absolute directory base: p itself when it
// is absolute, else base joined with p.
func Resolve(base, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}
