//go:build unix

// Package sockfile tells whether the socket file at a path is still the one
// a server bound: the unix service and chg's server both remove only what
// they bound, and chg's servers exit when their name is taken over.
package sockfile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Identity identifies a socket file by device, inode and modification
// time, as it was when a server bound it. Another server that takes the
// name over (renaming its own socket onto it) or a client that unlinks it
// changes them, so a server can tell whether the file at a path is still
// its own: to keep serving (chg's servers exit when it is not) and to
// remove only what it bound.
type Identity struct {
	dev, ino uint64
	mtime    time.Time
}

// Identify records the identity of the file at path (not
// following a symlink).
func Identify(path string) (Identity, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Identity{}, fmt.Errorf("identifying socket file: %w", err)
	}
	return identityOf(fi), nil
}

func identityOf(fi os.FileInfo) Identity {
	f := Identity{mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.dev, f.ino = uint64(st.Dev), st.Ino
	}
	return f
}

// At reports whether the file at path is still this one.
func (f Identity) At(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && identityOf(fi) == f
}

// RemoveAt unlinks path if the file there is still this one. Between the
// check and the unlink another server could take the name over; it then
// sees its socket gone and exits, and the next client starts a new one
// (Mercurial accepts the same window).
func (f Identity) RemoveAt(path string) error {
	if !f.At(path) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing socket file: %w", err)
	}
	return nil
}
