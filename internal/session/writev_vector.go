//go:build darwin || linux || openbsd

package session

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// vectorWriterFor returns a function that sends a frame's header and
// payload with one writev(2) on w's descriptor, or nil when w has none
// (then frames are copied into one buffer and written with one Write).
func vectorWriterFor(w io.Writer) func(hdr, payload []byte) error {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(hdr, payload []byte) error {
		iov := [][]byte{hdr, payload}
		var werr error
		err := rc.Write(func(fd uintptr) bool {
			for len(iov) > 0 {
				n, err := unix.Writev(int(fd), iov)
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					return false // a non-blocking descriptor: wait until writable
				case err != nil:
					werr = err
					return true
				}
				iov = consumed(iov, n)
			}
			return true
		})
		if err == nil {
			err = werr
		}
		return err
	}
}

// consumed drops the first n bytes written from iov.
func consumed(iov [][]byte, n int) [][]byte {
	for len(iov) > 0 && n >= len(iov[0]) {
		n -= len(iov[0])
		iov = iov[1:]
	}
	if len(iov) > 0 {
		iov[0] = iov[0][n:]
	}
	return iov
}
