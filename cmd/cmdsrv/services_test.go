//go:build unix

package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// chgEnviron is the environment of a chgunix server and of the chg that
// talks to it: the same sensitive values, so that validate finds the
// server right for the client.
func chgEnviron(bin, addr string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CHG") || strings.HasPrefix(kv, "HG") || strings.HasPrefix(kv, "CMDSRV_") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "CHGHG="+bin, "CHGSOCKNAME="+addr, "CHGTIMEOUT=30"), extra...)
}

// startChgunix starts `cmdsrv serve --cmdserver chgunix` by hand, as chg
// would, in the foreground, and returns once its socket is in place (wait
// false: at once).
func startChgunix(t *testing.T, env []string, addr string, wait bool, args ...string) *unixServer {
	t.Helper()
	s := newServerProcess(t, env, addr, "chgunix", args...)
	s.start(t)
	if wait {
		require.Eventually(t, func() bool { _, err := os.Stat(addr); return err == nil }, 20*time.Second, 5*time.Millisecond,
			"socket never appeared; log: %s", s.log)
	}
	return s
}

// waitWorkersForked waits until the server has started its first
// worker.
func (s *unixServer) waitWorkersForked(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return len(s.workerPIDs()) > 0 }, 20*time.Second, 5*time.Millisecond, "no worker forked")
}

// stopAndCheck sends SIGTERM and requires a clean exit with no socket
// left in dir.
func (s *unixServer) stopAndCheck(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-s.done:
		s.done <- err // for Cleanup
		require.NoError(t, err, "server exit status")
	case <-time.After(20 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
	// The symlink at the start-up address may stay, dangling, as
	// Mercurial's server leaves it (chg renames it and cleans up).
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(dir, e.Name())); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind: %s (%v)", e.Name(), err)
		}
	}
}

// TestChgunixRepositoryAndTraceback: a chgunix server started with -R and
// --traceback starts its sessions in that directory and shows the stack
// of a command that panics, as a unix server does (they were dropped for
// chgunix).
func TestChgunixRepositoryAndTraceback(t *testing.T) {
	dir, repo := testutil.ShortDir(t), t.TempDir()
	addr := filepath.Join(dir, "server")
	s := startChgunix(t, chgEnviron(testutil.Binary(t), addr), addr, true, "-R", repo, "--traceback")
	c, err := client.Dial(context.Background(), addr)
	require.NoError(t, err)
	code, out, _ := testutil.Run(t, c, "pwd")
	require.Equal(t, 0, code)
	want, err := filepath.EvalSymlinks(repo)
	require.NoError(t, err)
	require.Equal(t, want+"\n", out)
	code, _, errOut := testutil.Run(t, c, "debugcrash")
	require.Equal(t, 255, code)
	require.Contains(t, errOut, "abort: command panicked: debugcrash")
	require.Contains(t, errOut, "goroutine ", "no stack trace with the server's --traceback")
	c.Close()
	s.stopAndCheck(t, dir)
}

// TestChgunixTracebackThroughChg: the real chg, on a chgunix server started
// with --traceback, gets the stack of a command that panics.
func TestChgunixTracebackThroughChg(t *testing.T) {
	chg := testutil.NeedExternal(t, "chg")
	dir := testutil.ShortDir(t)
	addr := filepath.Join(dir, "server")
	env := chgEnviron(testutil.Binary(t), addr)
	s := startChgunix(t, env, addr, true, "--traceback")
	var errb strings.Builder
	c := exec.Command(chg, "debugcrash")
	c.Env, c.Stderr = env, &errb
	err := c.Run()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "chg: %v", err)
	require.Equal(t, 255, ee.ExitCode())
	require.Contains(t, errb.String(), "abort: command panicked: debugcrash")
	require.Contains(t, errb.String(), "goroutine ", "no stack trace with the server's --traceback")
	s.stopAndCheck(t, dir)
}

// TestChgunixSIGTERMDuringStart: SIGTERM while a chgunix server is still
// starting, its socket bound while its first workers build a slow Handler,
// ends it with status 0 and no socket left behind. (A Shutdown while it
// hashes, before the bind, is chg's TestShutdownBeforeServing: from
// outside, that moment cannot be told from the runtime's start.)
func TestChgunixSIGTERMDuringStart(t *testing.T) {
	dir := testutil.ShortDir(t)
	addr := filepath.Join(dir, "server")
	s := startChgunix(t, chgEnviron(testutil.Binary(t), addr, "CMDSRV_DEBUG_INIT_DELAY=3s"), addr, true)
	s.waitWorkersForked(t)
	s.stopAndCheck(t, dir)
	require.Contains(t, s.log.String(), "stopping a worker that is still starting", "the workers were not still starting")
}

// TestChgunixDaemonSIGTERMDuringStart: the same contract for a chgunix
// server behind --daemon: SIGTERM to the detached server while its workers
// still start ends it cleanly (no abort in its log) and removes its socket.
func TestChgunixDaemonSIGTERMDuringStart(t *testing.T) {
	dir := testutil.ShortDir(t)
	addr, pidPath, logPath := filepath.Join(dir, "server"), filepath.Join(t.TempDir(), "pid"), filepath.Join(t.TempDir(), "log")
	c := exec.Command(testutil.Binary(t), "serve", "--cmdserver", "chgunix", "--address", addr, "--daemon", "--pid-file", pidPath,
		"--config", "cmdserver.log="+logPath)
	c.Env = chgEnviron(testutil.Binary(t), addr, "CMDSRV_DEBUG_INIT_DELAY=3s")
	out, err := c.CombinedOutput()
	require.NoError(t, err, "output: %s", out)
	pid := testutil.ReadPIDFile(t, pidPath)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	testutil.Terminate(t, pid, 20*time.Second)
	log, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.Contains(t, string(log), "shutting down on signal")
	require.NotContains(t, string(log), "abort:")
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		_, err := os.Stat(filepath.Join(dir, e.Name()))
		require.ErrorIs(t, err, os.ErrNotExist, "socket left behind: %s\nlog: %s", e.Name(), log)
	}
}

// TestUnixSIGTERMDuringStart: the unix service keeps the same contract
// while its first workers still build a slow Handler.
func TestUnixSIGTERMDuringStart(t *testing.T) {
	dir := testutil.ShortDir(t)
	addr := filepath.Join(dir, "s")
	s := newServerProcess(t, append(os.Environ(), "CMDSRV_DEBUG_INIT_DELAY=3s"), addr, "unix")
	out, err := s.cmd.StdoutPipe()
	require.NoError(t, err)
	s.start(t)
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "server log: %s", s.log)
	require.Equal(t, "listening at "+addr+"\n", line)
	s.waitWorkersForked(t)
	s.stopAndCheck(t, dir)
	require.Contains(t, s.log.String(), "stopping a worker that is still starting", "the workers were not still starting")
}
