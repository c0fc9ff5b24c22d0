//go:build unix

package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// Issue 21 item 6: a user finds, inspects and stops the application's
// own server with `serve --cmdserver chgunix --status/--stop`, without
// knowing where its socket lives (the client mode's, by default).

// lifecycleEnv is an environment in which the default socket lands in a
// private directory (XDG_RUNTIME_DIR, see baseEnv) and the client mode is
// on; it returns the environment and the default socket path.
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

// TestLifecycleStatusAndStopFindTheClientModesServer: with no --address,
// --status and --stop talk to the server the client mode started; --stop
// lets a running command finish, ends the server, and starts none when
// there is nothing to stop.
func TestLifecycleStatusAndStopFindTheClientModesServer(t *testing.T) {
	bin := testutil.Binary(t)
	env, sock := lifecycleEnv(t)

	// Nothing runs yet: a clear error, status 1, and no server started.
	code, _, errOut := runCmd(t, serveCmd(t, env, "--cmdserver", "chgunix", "--stop"))
	require.Equal(t, 1, code)
	require.Equal(t, "abort: no server at "+sock+"\n", errOut)
	code, _, errOut = runCmd(t, serveCmd(t, env, "--cmdserver", "unix", "--status"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "abort: no server at "+sock)
	entries, _ := os.ReadDir(filepath.Dir(sock))
	require.Empty(t, entries, "--stop started nothing")

	// The client mode starts the server on first use.
	c := exec.Command(bin, "echo", "hi")
	c.Env = env
	code, out, errOut := runCmd(t, c)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "hi\n", out)

	code, out, errOut = runCmd(t, serveCmd(t, env, "--cmdserver", "chgunix", "--status"))
	require.Equal(t, 0, code, errOut)
	m := regexp.MustCompile(`(?m)^master pid: (\d+)$`).FindStringSubmatch(out)
	require.NotNil(t, m, "%s", out)
	master, _ := strconv.Atoi(m[1])
	require.True(t, testutil.Alive(master), "%s", out)
	require.Regexp(t, `(?m)^started: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`, out)
	require.Regexp(t, `(?m)^binary: `+regexp.QuoteMeta(bin)+` \(modified \d{4}-`, out)
	require.Regexp(t, `(?m)^build: `, out)

	// A command in progress when --stop comes finishes first.
	sleeper := exec.Command(bin, "sleep", "1.5")
	sleeper.Env = env
	var sleepErr testutil.SyncBuffer
	sleeper.Stderr = &sleepErr
	require.NoError(t, sleeper.Start())
	slept := make(chan error, 1)
	go func() { slept <- sleeper.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, out, _ := runCmd(t, serveCmd(t, env, "--cmdserver", "chgunix", "--status"))
		if regexp.MustCompile(`(?m)^clients: \d+ served, 2 active`).MatchString(out) {
			break // the sleeper and this status request
		}
		require.True(t, time.Now().Before(deadline), "the sleeper never reached the server: %s", out)
		time.Sleep(20 * time.Millisecond)
	}
	code, out, errOut = runCmd(t, serveCmd(t, env, "--cmdserver", "chgunix", "--stop"))
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out+errOut, "--stop prints nothing on success")
	require.False(t, testutil.Alive(master), "the master still runs after --stop")
	select {
	case err := <-slept:
		require.NoError(t, err, "the running command was cut short: %s", sleepErr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("the sleeper never ended")
	}
	require.NotContains(t, sleepErr.String(), "abort")

	code, _, errOut = runCmd(t, serveCmd(t, env, "--cmdserver", "chgunix", "--stop"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "abort: no server at "+sock)
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
		require.Equal(t, "abort: no server at "+sock+" (stale socket file: nothing listens on it)\n", errOut, flag)
	}
}

// TestLifecycleStopByAddress: --address names any server, a unix one too.
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
