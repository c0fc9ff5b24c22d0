//go:build !unix

package pipe

import (
	"io"
	"os"
)

// interruptible reports whether closing in ends a read blocked on it: not
// for a file here (a console or pipe handle's read is not interrupted by
// its close), yes for any other io.Closer (a net.Conn, an io.Pipe).
func interruptible(in io.Reader) bool {
	if _, ok := in.(*os.File); ok {
		return false
	}
	_, closer := in.(io.Closer)
	return closer
}
