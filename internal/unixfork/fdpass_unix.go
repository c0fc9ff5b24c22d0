//go:build unix

package unixfork

import (
	"errors"
	"fmt"
	"io"
	"net"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

// maxControlPayload bounds the payload RecvFDs reads in one message.
const maxControlPayload = 64 << 10

// SendFDs sends payload with fds attached as SCM_RIGHTS ancillary data in
// one sendmsg. payload must not be empty when fds are sent (a stream socket
// drops ancillary data without at least one byte). The caller keeps its own
// copies of fds open or closes them; the receiver gets duplicates.
func SendFDs(conn *net.UnixConn, payload []byte, fds ...int) error {
	if len(fds) > 0 && len(payload) == 0 {
		return errors.New("sending descriptors: empty payload")
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	n, oobn, err := conn.WriteMsgUnix(payload, oob, nil)
	if err != nil {
		return fmt.Errorf("sending descriptors: %w", err)
	}
	if n != len(payload) || oobn != len(oob) {
		return fmt.Errorf("sending descriptors: short write (%d/%d bytes, %d/%d ancillary)", n, len(payload), oobn, len(oob))
	}
	return nil
}

// RecvFDs receives one message of at most 64 KiB and up to maxFDs
// descriptors passed with SCM_RIGHTS. The descriptors are close-on-exec
// (MSG_CMSG_CLOEXEC: no window in which a concurrent exec inherits them)
// and belong to the caller. End of input is io.EOF.
//
// On a stream socket this may return bytes sent before the descriptors in
// the same call; use RecvFDsLimit with the exact payload size there (chg's
// attachio sends one byte).
func RecvFDs(conn *net.UnixConn, maxFDs int) (payload []byte, fds []int, err error) {
	return RecvFDsLimit(conn, maxControlPayload, maxFDs)
}

// RecvFDsLimit is RecvFDs reading at most maxPayload bytes.
func RecvFDsLimit(conn *net.UnixConn, maxPayload, maxFDs int) (payload []byte, fds []int, err error) {
	if maxPayload < 1 {
		maxPayload = 1
	}
	buf := make([]byte, maxPayload)
	oob := make([]byte, unix.CmsgSpace(max(maxFDs, 1)*4))
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, nil, fmt.Errorf("receiving descriptors: %w", err)
	}
	var n, oobn, flags int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, sysfd.RecvmsgFlags)
		return rerr != unix.EAGAIN && rerr != unix.EWOULDBLOCK
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("receiving descriptors: %w", err)
	}
	if oobn > 0 {
		fds, err = parseRights(oob[:oobn])
		if err != nil {
			return nil, nil, err
		}
		sysfd.MarkReceived(fds)
	}
	if flags&unix.MSG_CTRUNC != 0 || len(fds) > maxFDs {
		closeFDs(fds)
		return nil, nil, fmt.Errorf("receiving descriptors: more than %d descriptors sent", maxFDs)
	}
	if n == 0 && oobn == 0 {
		return nil, nil, io.EOF
	}
	return buf[:n], fds, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parsing ancillary data: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			closeFDs(fds)
			return nil, fmt.Errorf("parsing SCM_RIGHTS: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}
