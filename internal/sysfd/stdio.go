//go:build unix

package sysfd

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Dup duplicates fd as a close-on-exec descriptor above the standard range
// (0-2), in one call (F_DUPFD_CLOEXEC): no exec started meanwhile can
// inherit it, and a later dup2 onto 0-2 cannot overwrite it.
func Dup(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3) }

// SavedStdio holds close-on-exec duplicates of descriptors 0, 1 and 2, so
// that a process which lends its standard descriptors out (chg's attachio
// and pager, a reused worker's client) can put its own back.
type SavedStdio struct {
	fds [3]int
}

// SaveStdio duplicates fds 0-2 above the standard range.
func SaveStdio() (*SavedStdio, error) {
	s := &SavedStdio{fds: [3]int{-1, -1, -1}}
	for i := range s.fds {
		fd, err := Dup(i)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("saving descriptor %d: %w", i, err)
		}
		s.fds[i] = fd
	}
	return s, nil
}

// Restore puts the saved descriptors back on 0-2; the copies stay, for
// another Restore.
func (s *SavedStdio) Restore() error {
	for i, fd := range s.fds {
		if fd < 0 {
			continue
		}
		if err := Dup2(fd, i); err != nil {
			return fmt.Errorf("restoring descriptor %d: %w", i, err)
		}
	}
	return nil
}

// Close closes the copies.
func (s *SavedStdio) Close() {
	for i, fd := range s.fds {
		if fd >= 0 {
			_ = unix.Close(fd)
			s.fds[i] = -1
		}
	}
}
