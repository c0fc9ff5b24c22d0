//go:build unix

package sockfile

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSocketFileIdentity: a socket file stays "ours" until another socket
// is renamed onto its name or it is unlinked; RemoveAt leaves another
// server's file alone.
func TestSocketFileIdentity(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "usf")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s")
	bind := func(name string) *net.UnixListener {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
		require.NoError(t, err)
		l.SetUnlinkOnClose(false)
		t.Cleanup(func() { l.Close() })
		return l
	}
	bind(path)
	mine, err := Identify(path)
	require.NoError(t, err)
	require.True(t, mine.At(path))

	// Another server renames its socket onto the name.
	other := filepath.Join(dir, "other")
	bind(other)
	require.NoError(t, os.Rename(other, path))
	require.False(t, mine.At(path))
	require.NoError(t, mine.RemoveAt(path))
	_, err = os.Lstat(path)
	require.NoError(t, err, "another server's socket was removed")

	theirs, err := Identify(path)
	require.NoError(t, err)
	require.NoError(t, theirs.RemoveAt(path))
	_, err = os.Lstat(path)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.False(t, theirs.At(path))
	require.NoError(t, theirs.RemoveAt(path), "removing a missing file is not an error")
}
