//go:build linux

package unixfork

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid of the process at the other end of c, from
// SO_PEERCRED (the credentials at connect time, set by the kernel).
func peerUID(c *net.UnixConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("reading peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, fmt.Errorf("reading peer credentials: %w", err)
	}
	if gerr != nil {
		return -1, fmt.Errorf("reading peer credentials: %w", gerr)
	}
	return int(cred.Uid), nil
}
