//go:build !linux

package fresh

import "errors"

// openDir leaves r closed: files are stat'ed by path.
func openDir(r *dirRef) {}

// statAt is never called where openDir opens nothing.
func statAt(int, string) (statInfo, error) {
	return statInfo{}, errors.New("fresh: no directory descriptors here")
}

// sameDir: no directory is ever open here.
func sameDir(statInfo, *dirRef) bool { return false }
