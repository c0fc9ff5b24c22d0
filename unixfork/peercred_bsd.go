//go:build darwin || freebsd

package unixfork

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// xucredVersion is XUCRED_VERSION of <sys/ucred.h> (0 on macOS and
// FreeBSD); a struct of another version is not trusted.
const xucredVersion = 0

// peerUID returns the uid of the process at the other end of c, from
// LOCAL_PEERCRED (what getpeereid(3) reads: the credentials at connect
// time, set by the kernel).
func peerUID(c *net.UnixConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("reading peer credentials: %w", err)
	}
	var cred *unix.Xucred
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	}); err != nil {
		return -1, fmt.Errorf("reading peer credentials: %w", err)
	}
	if gerr != nil {
		return -1, fmt.Errorf("reading peer credentials: %w", gerr)
	}
	if cred.Version != xucredVersion {
		return -1, fmt.Errorf("reading peer credentials: unknown xucred version %d", cred.Version)
	}
	return int(cred.Uid), nil
}
