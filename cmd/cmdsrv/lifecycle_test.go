//go:build unix

package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// More of issue 21 item 6 (TestServeLifecycle has the main path): the
// default socket without CMDSRV_SOCKNAME, nothing started by a --stop
// that finds nothing, a stale socket, and --address for a unix server.

// lifecycleEnv is an environment in which the default socket lands in a
// private XDG_RUNTIME_DIR (see baseEnv); it returns the environment and
// that socket's path.
func lifecycleEnv(t *testing.T) ([]string, string) {
	env := append(baseEnv(t), "CMDSRV_CLIENT=auto")
	var xdg string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "XDG_RUNTIME_DIR="); ok {
			xdg = v
		}
	}
	dir := filepath.Join(xdg, "cmdsrv")
	t.Cleanup(func() { killServers(t, dir) })
	return env, filepath.Join(dir, "server")
}

// serveCmd is `cmdsrv serve ARGS...` in env.
func serveCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	c := exec.Command(testutil.Binary(t), append([]string{"serve"}, args...)...)
	c.Env = env
	return c
}

// TestLifecycleDefaultSocket: with no --address and no CMDSRV_SOCKNAME,
// --stop and --status use $XDG_RUNTIME_DIR/cmdsrv/server, the client
// mode's; a --stop that finds nothing there starts nothing.
func TestLifecycleDefaultSocket(t *testing.T) {
	bin := testutil.Binary(t)
	env, sock := lifecycleEnv(t)

	code, _, errOut := runCmd(t, serveCmd(t, env, "--cmdserver", "chgunix", "--stop"))
	require.Equal(t, 1, code)
	require.Equal(t, "cmdsrv: no server at "+sock+"\n", errOut)
	entries, _ := os.ReadDir(filepath.Dir(sock))
	require.Empty(t, entries, "--stop started nothing")

	c := exec.Command(bin, "echo", "hi")
	c.Env = env
	code, out, errOut := runCmd(t, c)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "hi\n", out)
	code, out, errOut = runCmd(t, serveCmd(t, env, "--cmdserver", "chgunix", "--status"))
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^server: pid \d+, started `, out)
	code, _, errOut = runCmd(t, serveCmd(t, env, "--cmdserver", "chgunix", "--stop"))
	require.Equal(t, 0, code, errOut)
	code, _, errOut = runCmd(t, serveCmd(t, env, "--cmdserver", "chgunix", "--status"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no server at "+sock)
}

// TestLifecycleStaleSocket: a socket file nobody listens on is reported as
// such, with status 1.
func TestLifecycleStaleSocket(t *testing.T) {
	env, sock := lifecycleEnv(t)
	require.NoError(t, os.MkdirAll(filepath.Dir(sock), 0o700))
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	require.NoError(t, l.Close())
	for _, flag := range []string{"--stop", "--status"} {
		code, _, errOut := runCmd(t, serveCmd(t, env, "--cmdserver", "chgunix", flag))
		require.Equal(t, 1, code, flag)
		require.Equal(t, "cmdsrv: no server at "+sock+" (stale socket file: nothing listens on it)\n", errOut, flag)
	}
}

// TestLifecycleStopByAddress: --address names any server, a unix one too;
// its master (confirmed by the socket's peer credentials) ends.
func TestLifecycleStopByAddress(t *testing.T) {
	s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
	out, err := exec.Command(testutil.Binary(t), "serve", "--cmdserver", "unix", "--address", s.addr, "--stop").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, string(out))
	select {
	case err := <-s.done:
		require.NoError(t, err, "the server's exit status")
		s.done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("the server still runs after --stop")
	}
}
