//go:build unix && !(linux || freebsd || dragonfly)

package sysfd

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Socket creates a close-on-exec socket. Without SOCK_CLOEXEC (macOS) the
// flag is set under ForkLock, which exec holds while it forks.
func Socket(domain, typ, proto int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(domain, typ, proto)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	return fd, nil
}

// Socketpair creates a pair of connected close-on-exec sockets.
func Socketpair(domain, typ, proto int) ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := unix.Socketpair(domain, typ, proto)
	if err != nil {
		return fds, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return fds, nil
}

// Accept accepts a connection on the listening socket fd as a
// close-on-exec descriptor.
func Accept(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, _, err := unix.Accept(fd)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(nfd)
	return nfd, nil
}

// RecvmsgFlags are the flags for a recvmsg that may receive descriptors.
// There is no MSG_CMSG_CLOEXEC here: see MarkReceived.
const RecvmsgFlags = 0

// MarkReceived makes received descriptors close-on-exec. They exist from
// the recvmsg on, so an exec started by another goroutine in between can
// still inherit them: macOS offers no atomic way.
func MarkReceived(fds []int) {
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
}
