package procstate

import "golang.org/x/sys/unix"

// buffered is how many bytes pipe fd holds (FIONREAD).
func buffered(fd int) (int, error) { return unix.IoctlGetInt(fd, unix.TIOCINQ) }
