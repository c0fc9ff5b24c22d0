//go:build unix

// Package fdpass passes descriptors over unix sockets as SCM_RIGHTS
// ancillary data. It is the module's one pair of routines for it: chg's
// attachio uses Send in the client (internal/chgclient) and Recv in the
// server (chg), and unixfork's tests hand descriptors to workers
// with them.
package fdpass

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

// Send sends payload with fds attached. The descriptors go with the first
// byte: payload must not be empty when fds are sent (a stream socket drops
// ancillary data without at least one byte), and the rest of a short write
// follows without them. The caller keeps its own copies of fds open or
// closes them; the receiver gets duplicates.
func Send(rc syscall.RawConn, payload []byte, fds ...int) error {
	if len(fds) > 0 && len(payload) == 0 {
		return errors.New("sending descriptors: empty payload")
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	sent, first := 0, true
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for {
			var n int
			if first {
				n, werr = unix.SendmsgN(int(fd), payload, oob, nil, 0)
			} else {
				n, werr = unix.Write(int(fd), payload[sent:])
			}
			switch {
			case werr == unix.EINTR:
				continue
			case werr == unix.EAGAIN:
				return false // the poller waits until the socket is writable
			case werr != nil:
				return true
			}
			first = false
			sent += n
			if sent >= len(payload) {
				return true
			}
		}
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("sending descriptors: %w", err)
	}
	return nil
}

// Recv receives one message of at most maxPayload bytes with up to maxFDs
// descriptors. The descriptors are close-on-exec (MSG_CMSG_CLOEXEC where
// the system has it: no window in which a concurrent exec inherits them)
// and belong to the caller. More than maxFDs descriptors is an error, and
// those received are closed. End of input is io.EOF.
//
// On a stream socket this may return bytes sent before the descriptors in
// the same call: give the exact payload size there (chg's attachio sends
// one byte).
func Recv(rc syscall.RawConn, maxPayload, maxFDs int) (payload []byte, fds []int, err error) {
	if maxPayload < 1 {
		maxPayload = 1
	}
	return RecvInto(rc, make([]byte, maxPayload), maxFDs)
}

// RecvInto is Recv into the caller's buffer, for a reader that receives
// many messages (unixfork's master reading its workers' control
// messages, some of which carry descriptors). The payload returned is a
// slice of buf.
func RecvInto(rc syscall.RawConn, buf []byte, maxFDs int) (payload []byte, fds []int, err error) {
	oob := make([]byte, unix.CmsgSpace(max(maxFDs, 1)*4))
	var n, oobn, flags int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, sysfd.RecvmsgFlags)
			if rerr != unix.EINTR {
				return rerr != unix.EAGAIN && rerr != unix.EWOULDBLOCK
			}
		}
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
		Close(fds)
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
			Close(fds)
			return nil, fmt.Errorf("parsing SCM_RIGHTS: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// Close closes every descriptor of fds.
func Close(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// Blocking is the syscall.RawConn of a descriptor in blocking mode, used
// without Go's poller (chgclient's socket): f runs on the calling
// goroutine until it reports done.
type Blocking int

// Control calls f with the descriptor.
func (b Blocking) Control(f func(fd uintptr)) error { f(uintptr(b)); return nil }

// Read calls f until it returns true.
func (b Blocking) Read(f func(fd uintptr) bool) error {
	for !f(uintptr(b)) {
	}
	return nil
}

// Write calls f until it returns true.
func (b Blocking) Write(f func(fd uintptr) bool) error {
	for !f(uintptr(b)) {
	}
	return nil
}
