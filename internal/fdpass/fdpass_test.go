//go:build unix

package fdpass

import (
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

func raw(t *testing.T, c *net.UnixConn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	return rc
}

func socketpair(t *testing.T, typ int) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := sysfd.Socketpair(unix.AF_UNIX, typ, 0)
	require.NoError(t, err)
	conv := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "sp")
		defer f.Close()
		c, err := net.FileConn(f)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conv(fds[0]), conv(fds[1])
}

func TestSendRecvFDs(t *testing.T) {
	for _, typ := range []int{unix.SOCK_SEQPACKET, unix.SOCK_STREAM} {
		a, b := socketpair(t, typ)
		r, w, err := os.Pipe()
		require.NoError(t, err)
		defer r.Close()
		require.NoError(t, Send(raw(t, a), []byte("x"), int(w.Fd()), int(w.Fd())))
		w.Close()
		payload, fds, err := Recv(raw(t, b), 1, 3)
		require.NoError(t, err)
		require.Equal(t, "x", string(payload))
		require.Len(t, fds, 2)
		flags, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0)
		require.NoError(t, err)
		require.NotZero(t, flags&unix.FD_CLOEXEC, "received fd is not close-on-exec")
		_, err = unix.Write(fds[0], []byte("through the passed fd"))
		require.NoError(t, err)
		Close(fds)
		buf := make([]byte, 64)
		n, _ := r.Read(buf)
		require.Equal(t, "through the passed fd", string(buf[:n]))
	}
}

func TestRecvFDsTooMany(t *testing.T) {
	a, b := socketpair(t, unix.SOCK_SEQPACKET)
	require.NoError(t, Send(raw(t, a), []byte("x"), 0, 1, 2))
	_, _, err := Recv(raw(t, b), 64<<10, 1)
	require.ErrorContains(t, err, "more than 1 descriptors")
}

func TestRecvFDsEOF(t *testing.T) {
	a, b := socketpair(t, unix.SOCK_SEQPACKET)
	a.Close()
	_, _, err := Recv(raw(t, b), 64<<10, 1)
	require.ErrorIs(t, err, io.EOF)
}

// TestBlockingDescriptor: the client's plain blocking socket sends through
// the same routine.
func TestBlockingDescriptor(t *testing.T) {
	fds, err := sysfd.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer Close(fds[:])
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, Send(Blocking(fds[0]), []byte("abc"), int(w.Fd())))
	w.Close()
	payload, got, err := Recv(Blocking(fds[1]), 3, 3)
	require.NoError(t, err)
	require.Equal(t, "abc", string(payload))
	require.Len(t, got, 1)
	Close(got)
}
