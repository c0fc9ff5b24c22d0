package unixfork

import (
	"context"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// TestUnreadOutputIsNotIdle: a client that stops reading leaves the
// session blocked writing to it (a result or a large frame) after its
// command ended; that is not idleness, so the worker does not evict it,
// and once the write is through, an evict closes the connection with its
// reason on 'e'. (Evicting it used to block the worker's control loop on
// the frame writer's lock, behind the stuck write.)
func TestUnreadOutputIsNotIdle(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	peer := os.NewFile(uintptr(fds[1]), "peer")
	defer peer.Close()
	mine := os.NewFile(uintptr(fds[0]), "mine")
	fc, err := net.FileConn(mine)
	mine.Close()
	require.NoError(t, err)
	conn := fc.(*net.UnixConn)
	defer conn.Close()

	sess := &session.Session{
		Handler: protocol.HandlerFunc(func(context.Context, *protocol.Request) int { return 0 }),
		Options: protocol.SessionOptions{Config: &protocol.Config{}, Dir: "/"},
	}
	tc := &trackedConn{UnixConn: conn, last: time.Now(), sess: sess}
	require.NoError(t, sess.Greet(tc, tc))
	_ = peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	ch, _, _, err := wire.ReadFrame(peer, 0)
	require.NoError(t, err)
	require.Equal(t, byte('o'), ch, "hello")

	// Far more than the socket buffers hold: the write blocks until the
	// peer reads.
	big := make([]byte, 32<<20)
	written := make(chan error, 1)
	go func() { written <- sess.Frames().WriteFrame(session.ChannelOutput, big) }()
	waitFor(t, "the big frame under way", func() bool {
		n, err := unix.IoctlGetInt(fds[1], unix.SIOCINQ)
		return err == nil && n > 0
	})
	log := hclog.NewNullLogger()
	require.False(t, tc.evict(time.Nanosecond, log), "evicted while its output was being written")

	// The peer reads the frame: the write ends, and the client, idle now,
	// is evicted with its reason.
	ch, payload, _, err := wire.ReadFrame(peer, 0)
	require.NoError(t, err)
	require.Equal(t, byte('o'), ch)
	require.Len(t, payload, len(big))
	require.NoError(t, <-written)
	waitFor(t, "the idle client evicted", func() bool { return tc.evict(time.Nanosecond, log) })
	ch, payload, _, err = wire.ReadFrame(peer, 0)
	require.NoError(t, err)
	require.Equal(t, byte('e'), ch)
	require.Contains(t, string(payload), "closing this connection")
	n, err := tc.Read(make([]byte, 1))
	require.Equal(t, 0, n)
	require.ErrorIs(t, err, io.EOF)
}
