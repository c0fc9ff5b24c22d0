//go:build unix

package pipe

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// interruptible reports whether closing in ends a read blocked on it: true
// for a file Go's poller reads (a non-blocking descriptor) and for any
// other io.Closer (a net.Conn, an io.Pipe); false for a blocking
// descriptor, whose Close waits for the read, and for a plain io.Reader.
func interruptible(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		_, closer := in.(io.Closer)
		return closer
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	return err == nil && flags&unix.O_NONBLOCK != 0
}
