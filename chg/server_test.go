//go:build unix

package chg

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// TestShutdownBeforeServing: a Shutdown that comes before ListenAndServe,
// or while it computes its hashes, succeeds, and ListenAndServe then
// returns ErrServerClosed without leaving a socket file (or its symlink)
// behind: the shutdown contract of unixfork, whatever the moment.
func TestShutdownBeforeServing(t *testing.T) {
	newServer := func(dir string) *Server {
		return &Server{Address: filepath.Join(dir, "s.1"), Session: protocol.SessionOptions{Config: &protocol.Config{}}}
	}
	requireEmpty := func(dir string) {
		t.Helper()
		ents, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Empty(t, ents, "files left behind")
	}

	dir := testutil.ShortDir(t)
	s := newServer(dir)
	require.NoError(t, s.Shutdown(context.Background()))
	require.ErrorIs(t, s.ListenAndServe(context.Background()), ErrServerClosed)
	requireEmpty(dir)

	// While hashing: Shutdown runs in the hook, between the hashes and
	// the bind; ListenAndServe must not bind after it.
	dir = testutil.ShortDir(t)
	s = newServer(dir)
	hashed := make(chan struct{})
	shut := make(chan error, 1)
	testHookHashed = func() {
		close(hashed)
		require.Eventually(t, s.isClosing, 10*time.Second, time.Millisecond)
	}
	t.Cleanup(func() { testHookHashed = nil })
	go func() {
		<-hashed
		shut <- s.Shutdown(context.Background())
	}()
	require.ErrorIs(t, s.ListenAndServe(context.Background()), ErrServerClosed)
	require.NoError(t, <-shut)
	requireEmpty(dir)
}
