package unixfork

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

// controlBuffer is the socket buffer size of the control channel on macOS:
// room for a few messages of the largest size.
const controlBuffer = 4 * maxControlMsg

// controlSocketpair creates the master-worker control channel. macOS has
// no SOCK_SEQPACKET for unix sockets; a datagram socketpair keeps message
// boundaries too, and a read fails (ECONNRESET) or returns nothing once the
// other side has closed, which recvMsg's callers treat as the end. Its
// default buffers (2 KB per datagram, net.local.dgram.maxdgram) are too
// small for an init message, so both ends get larger ones.
func controlSocketpair() ([2]int, error) {
	fds, err := sysfd.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		return fds, err
	}
	for _, fd := range fds {
		for _, opt := range []int{unix.SO_SNDBUF, unix.SO_RCVBUF} {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, controlBuffer); err != nil {
				unix.Close(fds[0])
				unix.Close(fds[1])
				return fds, fmt.Errorf("sizing the control socket: %w", err)
			}
		}
	}
	return fds, nil
}
