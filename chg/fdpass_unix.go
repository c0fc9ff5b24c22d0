//go:build unix

package chg

import (
	"errors"
	"fmt"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// recvFDs receives one message of at most one byte carrying SCM_RIGHTS
// descriptors on conn. The descriptors come close-on-exec (Go's
// ReadMsgUnix asks for MSG_CMSG_CLOEXEC).
//
// TODO(merge): unixfork/fdpass_unix.go exports RecvFDs for the master to
// worker hand-off; switch to it once it is on main so that only one file
// in the repository deals with SCM_RIGHTS.
func recvFDs(conn *net.UnixConn, max int) ([]int, error) {
	var buf [1]byte
	oob := make([]byte, unix.CmsgSpace(max*4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(buf[:], oob)
	if err != nil {
		return nil, fmt.Errorf("receiving descriptors: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("parsing control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue // not SCM_RIGHTS
		}
		fds = append(fds, got...)
	}
	if flags&unix.MSG_CTRUNC != 0 {
		closeAll(fds)
		return nil, errors.New("receiving descriptors: too many descriptors (control message truncated)")
	}
	if n == 0 && len(fds) == 0 {
		return nil, io.EOF
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}
