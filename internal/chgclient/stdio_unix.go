//go:build unix

package chgclient

import "golang.org/x/sys/unix"

// StdioPresent reports whether fds 0, 1 and 2 are open; chg runs directly
// when one is closed, because attachio could not pass it.
func StdioPresent() bool {
	for fd := 0; fd < 3; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return false
		}
	}
	return true
}
