//go:build unix

package cmdsrv

import "golang.org/x/sys/unix"

// stdioPresent reports whether fds 0, 1 and 2 are open; chg runs directly
// when one is closed, because attachio could not pass it.
func stdioPresent() bool {
	for fd := 0; fd < 3; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return false
		}
	}
	return true
}
