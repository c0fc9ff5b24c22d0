package unixfork

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// SocketFile identifies a socket file by device, inode and modification
// time, as it was when a server bound it. Another server that takes the
// name over (renaming its own socket onto it) or a client that unlinks it
// changes them, so a server can tell whether the file at a path is still
// its own: to keep serving (chg's servers exit when it is not) and to
// remove only what it bound.
type SocketFile struct {
	dev, ino uint64
	mtime    time.Time
}

// IdentifySocketFile records the identity of the file at path (not
// following a symlink).
func IdentifySocketFile(path string) (SocketFile, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return SocketFile{}, fmt.Errorf("identifying socket file: %w", err)
	}
	return socketFileOf(fi), nil
}

func socketFileOf(fi os.FileInfo) SocketFile {
	f := SocketFile{mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.dev, f.ino = uint64(st.Dev), st.Ino
	}
	return f
}

// At reports whether the file at path is still this one.
func (f SocketFile) At(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && socketFileOf(fi) == f
}

// RemoveAt unlinks path if the file there is still this one. Between the
// check and the unlink another server could take the name over; it then
// sees its socket gone and exits, and the next client starts a new one
// (Mercurial accepts the same window).
func (f SocketFile) RemoveAt(path string) error {
	if !f.At(path) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing socket file: %w", err)
	}
	return nil
}
