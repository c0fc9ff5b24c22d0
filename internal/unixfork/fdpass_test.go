package unixfork

import (
	"io"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

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
		require.NoError(t, SendFDs(a, []byte("x"), int(w.Fd()), int(w.Fd())))
		w.Close()
		payload, fds, err := RecvFDsLimit(b, 1, 3)
		require.NoError(t, err)
		require.Equal(t, "x", string(payload))
		require.Len(t, fds, 2)
		flags, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0)
		require.NoError(t, err)
		require.NotZero(t, flags&unix.FD_CLOEXEC, "received fd is not close-on-exec")
		_, err = unix.Write(fds[0], []byte("through the passed fd"))
		require.NoError(t, err)
		closeFDs(fds)
		buf := make([]byte, 64)
		n, _ := r.Read(buf)
		require.Equal(t, "through the passed fd", string(buf[:n]))
	}
}

func TestRecvFDsTooMany(t *testing.T) {
	a, b := socketpair(t, unix.SOCK_SEQPACKET)
	require.NoError(t, SendFDs(a, []byte("x"), 0, 1, 2))
	_, _, err := RecvFDs(b, 1)
	require.ErrorContains(t, err, "more than 1 descriptors")
}

func TestRecvFDsEOF(t *testing.T) {
	a, b := socketpair(t, unix.SOCK_SEQPACKET)
	a.Close()
	_, _, err := RecvFDs(b, 1)
	require.ErrorIs(t, err, io.EOF)
}

func TestLRU(t *testing.T) {
	l := newLRU(3)
	for _, k := range []string{"a", "b", "c", "a", "d"} {
		l.add(k)
	}
	require.Equal(t, []string{"d", "a", "c"}, l.list())
	var off *lru = newLRU(0)
	off.add("x")
	require.Empty(t, off.list())
}
