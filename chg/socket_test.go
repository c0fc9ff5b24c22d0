package chg

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

func TestBindSocketHashedAndSymlinked(t *testing.T) {
	dir := testutil.ShortDir(t)
	addr := filepath.Join(dir, "server.4242")
	real := HashAddress(addr, "abcdef123456")
	s, err := bindSocket(addr, real)
	require.NoError(t, err)
	defer s.l.Close()

	fi, err := os.Lstat(real)
	require.NoError(t, err)
	require.Equal(t, os.ModeSocket, fi.Mode().Type())
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm()&0o777&^0o100)
	target, err := os.Readlink(addr)
	require.NoError(t, err)
	require.Equal(t, "server-abcdef123456", target)

	// chg renames ADDR to the socket name; connecting through it works.
	require.NoError(t, os.Rename(addr, filepath.Join(dir, "server")))
	c, err := net.Dial("unix", filepath.Join(dir, "server"))
	require.NoError(t, err)
	c.Close()
	require.True(t, s.owned())

	// Another server renames its socket onto ours: not ours any more,
	// and our shutdown must leave it alone.
	s2, err := bindSocket(addr, real)
	require.NoError(t, err)
	defer s2.l.Close()
	require.False(t, s.owned())
	require.True(t, s2.owned())
	require.NoError(t, s.unlinkIfOwned())
	_, err = os.Lstat(real)
	require.NoError(t, err, "someone else's socket was removed")
	require.NoError(t, s2.unlinkIfOwned())
	_, err = os.Lstat(real)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.False(t, s2.owned())
}

func TestBindSocketSkipHash(t *testing.T) {
	dir := testutil.ShortDir(t)
	addr := filepath.Join(dir, "server.77")
	s, err := bindSocket(addr, addr)
	require.NoError(t, err)
	defer s.l.Close()
	require.True(t, s.owned())
	require.NoError(t, os.Rename(addr, filepath.Join(dir, "server")))
	require.True(t, s.owned(), "chg's rename keeps the socket ours")
	require.NoError(t, s.unlinkIfOwned())
	_, err = os.Lstat(filepath.Join(dir, "server"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
