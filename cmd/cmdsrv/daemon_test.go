//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// These tests run the real binary's `--cmdserver unix` under the daemon
// layer. They skip while the unix service is not built yet; the daemon
// layer itself is covered now by the root package's tests, which use a
// small stand-in service.

func runEcho(t *testing.T, sock string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, sock)
	require.NoError(t, err, "the socket must accept connections")
	t.Cleanup(func() { _ = c.Close() })
	code, out, _ := testutil.Run(t, c, "echo", "hi")
	require.Equal(t, 0, code)
	require.Equal(t, "hi\n", out)
	return c
}

func TestDaemonUnix(t *testing.T) {
	bin := testutil.Binary(t)
	dir := testutil.ShortDir(t)
	sock, pidPath, logPath := filepath.Join(dir, "s"), filepath.Join(dir, "pid"), filepath.Join(dir, "log")
	cmd := exec.Command(bin, "serve", "--cmdserver", "unix", "--address", sock, "--daemon", "--pid-file", pidPath, "--config", "cmdserver.log="+logPath)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "output: %s", out)

	runEcho(t, sock) // no waiting: --daemon returns once the socket accepts
	pid := testutil.ReadPIDFile(t, pidPath)
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	testutil.RequireDetached(t, pid, logPath)

	testutil.Terminate(t, pid, 20*time.Second)
	_, err = os.Stat(sock)
	require.True(t, os.IsNotExist(err), "socket removed: %v", err)
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`(?m)^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \(`+strconv.Itoa(pid)+`\)> .*forked worker process \(pid=\d+\)`), string(b))
}

func TestDaemonUnixFailures(t *testing.T) {
	bin := testutil.Binary(t)
	dir := testutil.ShortDir(t)
	busy := filepath.Join(dir, "busy")
	srv := exec.Command(bin, "serve", "--cmdserver", "unix", "--address", busy, "--daemon", "--pid-file", filepath.Join(dir, "busy.pid"))
	out, err := srv.CombinedOutput()
	require.NoError(t, err, "output: %s", out)
	t.Cleanup(func() { _ = unix.Kill(testutil.ReadPIDFile(t, filepath.Join(dir, "busy.pid")), unix.SIGTERM) })

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing directory", []string{"--address", filepath.Join(dir, "no", "s")}, "does not exist"},
		{"address in use", []string{"--address", busy}, "in use"},
		{"log in missing directory", []string{"--address", filepath.Join(dir, "s"), "--config", "cmdserver.log=" + filepath.Join(dir, "no", "log")}, "opening log file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, append(append([]string{"serve", "--cmdserver", "unix"}, c.args...), "--daemon")...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			require.NotEqual(t, 0, ee.ExitCode())
			require.Contains(t, stderr.String(), c.want)
			require.Contains(t, stderr.String(), "child process failed to start")
		})
	}
}

func TestDaemonLogRotationUnix(t *testing.T) {
	bin := testutil.Binary(t)
	dir := testutil.ShortDir(t)
	sock, pidPath, logPath := filepath.Join(dir, "s"), filepath.Join(dir, "pid"), filepath.Join(dir, "log")
	out, err := exec.Command(bin, "serve", "--cmdserver", "unix", "--address", sock, "--daemon", "--pid-file", pidPath,
		"--config", "cmdserver.log="+logPath, "--config", "cmdserver.max-log-size=200", "--config", "cmdserver.max-log-files=2").CombinedOutput()
	require.NoError(t, err, "output: %s", out)
	pid := testutil.ReadPIDFile(t, pidPath)
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	for i := 0; i < 10; i++ {
		c := runEcho(t, sock)
		_ = c.Close()
	}
	testutil.Terminate(t, pid, 20*time.Second)
	names, err := filepath.Glob(logPath + "*")
	require.NoError(t, err)
	require.LessOrEqual(t, len(names), 2, "%v", names)
	require.Contains(t, names, logPath+".1", "the log was rotated")
}

func TestSocketActivationUnix(t *testing.T) {
	bin := testutil.Binary(t)
	sa := testutil.NeedExternal(t, "systemd-socket-activate")
	sock := filepath.Join(testutil.ShortDir(t), "s")
	cmd := exec.Command(sa, "-l", sock, bin, "serve", "--cmdserver", "unix")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(t, func() bool {
		_, err := os.Stat(sock)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "stderr: %s", &stderr)
	c := runEcho(t, sock)
	_ = c.Close()
	runEcho(t, sock)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "stderr: %s", &stderr)
	_, err := os.Stat(sock)
	require.NoError(t, err, "an activated server never unlinks its socket")
}
