//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// unixServer is `cmdsrv serve --cmdserver unix` running as a process.
type unixServer struct {
	cmd  *exec.Cmd
	addr string
	log  *testutil.SyncBuffer
	done chan error
}

func startUnix(t *testing.T, addr string, args ...string) *unixServer {
	t.Helper()
	s := newServerProcess(t, nil, addr, "unix", args...)
	out, err := s.cmd.StdoutPipe()
	require.NoError(t, err)
	s.start(t)
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "server log: %s", s.log)
	require.Equal(t, "listening at "+addr+"\n", line)
	return s
}

// newServerProcess prepares `cmdsrv serve --cmdserver MODE --address
// ADDR ARGS...` with env (nil: ours); start runs it.
func newServerProcess(t *testing.T, env []string, addr, mode string, args ...string) *unixServer {
	s := &unixServer{addr: addr, log: &testutil.SyncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(testutil.Binary(t), append([]string{"serve", "--cmdserver", mode, "--address", addr}, args...)...)
	s.cmd.Env, s.cmd.Stderr = env, s.log
	return s
}

// start starts the server, killed at the end of the test, which then
// shows its log if it failed.
func (s *unixServer) start(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Start())
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		if t.Failed() {
			t.Logf("server log:\n%s", s.log)
		}
	})
}

// workerPIDs lists the pids of the log's "forked worker process" lines.
func (s *unixServer) workerPIDs() []int {
	var pids []int
	for _, m := range regexp.MustCompile(`forked worker process \(pid=(\d+)\)`).FindAllStringSubmatch(s.log.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		pids = append(pids, n)
	}
	return pids
}

func TestUnixHelloAndCommands(t *testing.T) {
	s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
	ctx := context.Background()
	a, err := client.Dial(ctx, s.addr)
	require.NoError(t, err)
	defer a.Close()
	b, err := client.Dial(ctx, s.addr)
	require.NoError(t, err)
	defer b.Close()
	for _, c := range []*client.Client{a, b} {
		require.NotEqual(t, s.cmd.Process.Pid, c.Hello.PID)
		require.Equal(t, c.Hello.PID, c.Hello.PGID)
	}
	require.NotEqual(t, a.Hello.PID, b.Hello.PID)
	code, out, _ := testutil.Run(t, a, "echo", "hello", "unix")
	require.Equal(t, 0, code)
	require.Equal(t, "hello unix\n", out)
	fi, err := os.Lstat(s.addr)
	require.NoError(t, err)
	require.Equal(t, os.ModeSocket|0o600, fi.Mode())
}

// TestUnixSIGTERM: a client's running command finishes, then the server
// exits 0 with its socket file removed and no worker left.
func TestUnixSIGTERM(t *testing.T) {
	s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
	c, err := client.Dial(context.Background(), s.addr)
	require.NoError(t, err)
	defer c.Close()
	testutil.Run(t, c, "echo", "warm") // the worker is serving us
	res := make(chan error, 1)
	var code int
	go func() {
		var errb strings.Builder
		var err error
		code, err = c.RunCommand(context.Background(), []string{"sleep", "2"}, &client.RunOptions{Stderr: &errb})
		if err == nil && errb.Len() > 0 {
			err = fmt.Errorf("stderr %q", errb.String())
		}
		res <- err
	}()
	time.Sleep(300 * time.Millisecond) // let the request reach the worker
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-res)
	require.Equal(t, 0, code, "the running command was cut short")
	select {
	case err := <-s.done:
		s.done <- err // for Cleanup
		require.NoError(t, err, "server exit status")
	case <-time.After(20 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
	_, err = os.Lstat(s.addr)
	require.True(t, errors.Is(err, os.ErrNotExist), "socket file left behind: %v", err)
	pids := s.workerPIDs()
	require.NotEmpty(t, pids)
	for _, pid := range pids {
		require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "worker %d left behind", pid)
		require.Contains(t, s.log.String(), fmt.Sprintf("worker process exited (pid=%d)", pid))
	}
}

func TestUnixAddressInUse(t *testing.T) {
	s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
	cmd := exec.Command(testutil.Binary(t), "serve", "--cmdserver", "unix", "--address", s.addr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 255, ee.ExitCode())
	require.Equal(t, "abort: "+s.addr+": address in use\n", stderr.String())
}

func TestUnixStaleSocketAndBadDirectory(t *testing.T) {
	dir := testutil.ShortDir(t)
	addr := filepath.Join(dir, "s")
	s := startUnix(t, addr)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL)) // leaves its socket file
	<-s.done
	s.done <- nil
	_, err := os.Lstat(addr)
	require.NoError(t, err)
	s2 := startUnix(t, addr)
	c, err := client.Dial(context.Background(), s2.addr)
	require.NoError(t, err)
	defer c.Close()
	_, out, _ := testutil.Run(t, c, "echo", "replaced")
	require.Equal(t, "replaced\n", out)

	cmd := exec.Command(testutil.Binary(t), "serve", "--cmdserver", "unix", "--address", filepath.Join(dir, "missing", "s"))
	b, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(b), "abort: cannot listen at "+filepath.Join(dir, "missing", "s")+": directory "+filepath.Join(dir, "missing")+" does not exist")
}

// TestUnixLogToDebugChannel: with cmdserver.log=- a session's events go to
// its own client's 'd' channel, and the master's to its stderr in
// Mercurial's line format.
func TestUnixLogToDebugChannel(t *testing.T) {
	s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"), "--config", "cmdserver.log=-")
	a, err := client.Dial(context.Background(), s.addr)
	require.NoError(t, err)
	defer a.Close()
	b, err := client.Dial(context.Background(), s.addr)
	require.NoError(t, err)
	defer b.Close()

	var debugA, debugB strings.Builder
	code, err := a.RunCommand(context.Background(), []string{"debugcrash"}, &client.RunOptions{Debug: &debugA})
	require.NoError(t, err)
	require.Equal(t, 255, code)
	code, err = b.RunCommand(context.Background(), []string{"echo", "quiet"}, &client.RunOptions{Debug: &debugB})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Contains(t, debugA.String(), "command panicked")
	require.NotContains(t, debugB.String(), "command panicked", "one client's events never reach another")
	require.Regexp(t, `\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \(\d+\)> forked worker process`, s.log.String())
}

// TestUnixStatus: `serve --status` against a running server prints its
// pool, counting the clients served so far; against no server it fails
// with the reason.
func TestUnixStatus(t *testing.T) {
	s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
	for i := 0; i < 3; i++ {
		c, err := client.Dial(context.Background(), s.addr)
		require.NoError(t, err)
		code, _, _ := testutil.Run(t, c, "true")
		require.Equal(t, 0, code)
		c.Close()
	}
	out, err := exec.Command(testutil.Binary(t), "serve", "--cmdserver", "unix", "--address", s.addr, "--status").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Regexp(t, `(?m)^workers: \d+ idle, 1 busy, \d+ starting`, string(out))
	m := regexp.MustCompile(`(?m)^clients: (\d+) served`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "%s", out)
	served, _ := strconv.Atoi(m[1])
	require.GreaterOrEqual(t, served, 4, "three clients and the status request")
	require.Contains(t, string(out), "workers recycled: 0")
	require.Contains(t, string(out), "uptime: ")

	out, err = exec.Command(testutil.Binary(t), "serve", "--cmdserver", "unix", "--address", s.addr+"-none", "--status").CombinedOutput()
	require.Error(t, err)
	require.Equal(t, "cmdsrv: no server at "+s.addr+"-none\n", string(out))
}

// TestUnixCommandDirAndEnv: a unix service's client gives its commands
// its directory and environment (chdir and setenv, the Go client's
// RunOptions.Dir and Env), kept by the session for its later commands; a
// relative or missing directory ends the session with a clear error.
func TestUnixCommandDirAndEnv(t *testing.T) {
	s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
	c, err := client.Dial(context.Background(), s.addr)
	require.NoError(t, err)
	defer c.Close()
	require.True(t, c.Hello.Has("chdir") && c.Hello.Has("setenv"), "capabilities %v", c.Hello.Capabilities)
	dir := t.TempDir()
	run := func(opts *client.RunOptions, args ...string) (int, string) {
		var out strings.Builder
		if opts == nil {
			opts = &client.RunOptions{}
		}
		opts.Stdout = &out
		code, err := c.RunCommand(context.Background(), args, opts)
		require.NoError(t, err)
		return code, out.String()
	}
	code, out := run(&client.RunOptions{Dir: dir, Env: []string{"CALLER_VALUE=from the client"}}, "pwd")
	require.Equal(t, 0, code)
	require.Equal(t, dir+"\n", out)
	code, out = run(nil, "env", "CALLER_VALUE")
	require.Equal(t, 0, code)
	require.Equal(t, "from the client\n", out, "the session keeps them")
	code, out = run(nil, "pwd")
	require.Equal(t, dir+"\n", out)

	for _, bad := range []string{"relative/dir", filepath.Join(dir, "missing")} {
		c, err := client.Dial(context.Background(), s.addr)
		require.NoError(t, err)
		var errs strings.Builder
		_, err = c.RunCommand(context.Background(), []string{"pwd"}, &client.RunOptions{Dir: bad, Stderr: &errs})
		c.Close()
		require.Error(t, err, bad)
		require.Contains(t, errs.String(), "abort: chdir:", bad)
	}
}
