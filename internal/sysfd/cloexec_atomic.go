//go:build linux || freebsd || dragonfly

package sysfd

import "golang.org/x/sys/unix"

// Socket creates a close-on-exec socket.
func Socket(domain, typ, proto int) (int, error) {
	return unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
}

// Socketpair creates a pair of connected close-on-exec sockets.
func Socketpair(domain, typ, proto int) ([2]int, error) {
	return unix.Socketpair(domain, typ|unix.SOCK_CLOEXEC, proto)
}

// Accept accepts a connection on the listening socket fd as a
// close-on-exec descriptor.
func Accept(fd int) (int, error) {
	nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
	return nfd, err
}

// RecvmsgFlags are the flags for a recvmsg that may receive descriptors:
// they arrive close-on-exec.
const RecvmsgFlags = unix.MSG_CMSG_CLOEXEC

// MarkReceived makes descriptors received with RecvmsgFlags close-on-exec;
// here they already are.
func MarkReceived([]int) {}
