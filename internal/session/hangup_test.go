//go:build unix

package session

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// hangupWatchers are the two ways a running command's peer is watched:
// this platform's watchHangup, and the periodic check the BSDs use (built
// everywhere so that it is exercised on Linux too).
var hangupWatchers = map[string]func(fd int, done <-chan struct{}) bool{
	"platform": watchHangup,
	"periodic": func(fd int, done <-chan struct{}) bool { return watchHangupPeriodic(fd, done, time.Millisecond) },
}

// watchResult runs watch on fd in the background; the channel gets its answer.
func watchResult(watch func(int, <-chan struct{}) bool, fd int, done <-chan struct{}) <-chan bool {
	res := make(chan bool, 1)
	go func() { res <- watch(fd, done) }()
	return res
}

func waitResult(t *testing.T, res <-chan bool) bool {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the hang-up watch did not return")
		return false
	}
}

func TestHangupWatchSocketPeerCloses(t *testing.T) {
	for name, watch := range hangupWatchers {
		t.Run(name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			require.NoError(t, err)
			defer unix.Close(fds[0])
			// Input the command has not read yet is no hang-up...
			_, err = unix.Write(fds[1], []byte("pending input"))
			require.NoError(t, err)
			done := make(chan struct{})
			defer close(done)
			res := watchResult(watch, fds[0], done)
			// ...the peer going away is.
			require.NoError(t, unix.Close(fds[1]))
			require.True(t, waitResult(t, res))
		})
	}
}

func TestHangupWatchPipeReaderCloses(t *testing.T) {
	for name, watch := range hangupWatchers {
		t.Run(name, func(t *testing.T) {
			r, w, err := os.Pipe()
			require.NoError(t, err)
			defer w.Close()
			done := make(chan struct{})
			defer close(done)
			res := watchResult(watch, int(w.Fd()), done)
			require.NoError(t, r.Close())
			require.True(t, waitResult(t, res))
		})
	}
}

func TestHangupWatchEndsWithCommand(t *testing.T) {
	for name, watch := range hangupWatchers {
		t.Run(name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			require.NoError(t, err)
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			_, err = unix.Write(fds[1], []byte("pending input"))
			require.NoError(t, err)
			done := make(chan struct{})
			res := watchResult(watch, fds[0], done)
			close(done)
			require.False(t, waitResult(t, res), "a connected peer with pending input is no hang-up")
		})
	}
}
