//go:build unix && !linux

package pipe

import "golang.org/x/sys/unix"

func dup2(from, to int) error { return unix.Dup2(from, to) }

// growPipe does nothing here: the BSDs and macOS grow a pipe's buffer by
// themselves as data waits in it, and have no F_SETPIPE_SZ.
func growPipe(int) {}
