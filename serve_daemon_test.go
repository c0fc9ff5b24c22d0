//go:build unix

package cmdsrv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"go.uber.org/goleak"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// These tests drive runService through the test binary re-executed as a
// tiny socket service (helperService), so that the daemon layer is tested
// with real processes before the unix service exists. The same scenarios
// against the real `cmdsrv --cmdserver unix` are in cmd/cmdsrv.

const serviceHelperEnv = "CMDSRV_TEST_SOCKET_SERVICE"

func TestMain(m *testing.M) {
	if os.Getenv(serviceHelperEnv) == "1" {
		os.Exit(helperServe(os.Args))
	}
	// Fails the package when a test leaves a goroutine behind.
	goleak.VerifyTestMain(m)
}

// helperServe runs the program's serve path, parsed from args as Main
// parses them, with helperService in place of the unix service.
func helperServe(args []string) int {
	p := &Program{}
	p.defaults(args)
	inv, err := parseArgs(args[1:], false, false)
	if err != nil || inv.server == nil {
		fmt.Fprintln(os.Stderr, "helper: not a server invocation:", args, err)
		return 2
	}
	return p.serve(*inv.server, helperService)
}

// helperService binds the address (or serves the activated listener),
// calls ready, answers every connection with "hello pid=N" and stops on
// SIGTERM or when ctx is done, removing the socket it bound: the contract
// unixfork fulfils.
func helperService(ctx context.Context, st serviceStart) error {
	log := st.log
	l := st.listener
	if l == nil {
		if st.o.address == "" {
			return errors.New("no --address given")
		}
		if c, err := net.Dial("unix", st.o.address); err == nil {
			c.Close()
			return fmt.Errorf("cannot bind %s: address already in use", st.o.address)
		}
		var err error
		l, err = net.ListenUnix("unix", &net.UnixAddr{Name: st.o.address, Net: "unix"})
		if err != nil {
			return fmt.Errorf("binding %s: %w", st.o.address, err)
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			log.Info("shutting down")
			l.Close()
		case <-ctx.Done():
			log.Info("shutting down: not ready")
			l.Close()
		case <-done:
		}
	}()
	log.Info("listening", "address", l.Addr().String())
	st.ready()
	for {
		c, err := l.Accept()
		if err != nil {
			return nil
		}
		fmt.Fprintf(c, "hello pid=%d\n", os.Getpid())
		c.Close()
		log.Info("served a client")
	}
}

func helperCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, append([]string{"serve", "--cmdserver", "unix"}, args...)...)
	// atexit_sleep_ms: a race-enabled helper would sleep 1 s at every exit.
	cmd.Env = append(os.Environ(), serviceHelperEnv+"=1", "GORACE=atexit_sleep_ms=0")
	return cmd
}

// hello dials sock and returns the pid the server answers with.
func hello(t *testing.T, sock string) int {
	t.Helper()
	c, err := net.Dial("unix", sock)
	require.NoError(t, err, "the socket must accept connections")
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "hello pid=")))
	require.NoError(t, err, "answer %q", line)
	return pid
}

func TestDaemonReturnsOnceReady(t *testing.T) {
	dir := testutil.ShortDir(t)
	sock, pidPath, logPath := filepath.Join(dir, "s"), filepath.Join(dir, "pid"), filepath.Join(dir, "log")
	cmd := helperCmd(t, "--address", sock, "--daemon", "--pid-file", pidPath, "--config", "cmdserver.log="+logPath)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "output: %s", out)
	require.Empty(t, string(out))

	// No polling: the parent returned only once the socket accepts.
	served := hello(t, sock)
	pid := testutil.ReadPIDFile(t, pidPath)
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	require.Equal(t, served, pid, "the pid file holds the pid that serves")
	require.NotEqual(t, cmd.Process.Pid, pid)

	testutil.RequireDetached(t, pid, logPath)
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	require.NoError(t, err)
	require.Equal(t, dir, cwd)

	testutil.Terminate(t, pid, 20*time.Second)
	_, err = os.Stat(sock)
	require.True(t, os.IsNotExist(err), "the socket is removed on SIGTERM: %v", err)

	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	prefix := `\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \(` + strconv.Itoa(pid) + `\)> `
	require.Regexp(t, regexp.MustCompile(`(?m)^`+prefix+`listening: address=`+regexp.QuoteMeta(sock)+`$`), string(b))
	require.Regexp(t, regexp.MustCompile(`(?m)^`+prefix+`served a client$`), string(b))
	require.Regexp(t, regexp.MustCompile(`(?m)^`+prefix+`shutting down$`), string(b))
}

func TestDaemonWithoutLogUsesDevNull(t *testing.T) {
	dir := testutil.ShortDir(t)
	sock, pidPath := filepath.Join(dir, "s"), filepath.Join(dir, "pid")
	out, err := helperCmd(t, "--address", sock, "-d", "--pid-file", pidPath).CombinedOutput()
	require.NoError(t, err, "output: %s", out)
	require.Empty(t, string(out), "no info lines on the caller's terminal")
	pid := testutil.ReadPIDFile(t, pidPath)
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	for fd := 0; fd <= 2; fd++ {
		require.Equal(t, os.DevNull, testutil.FDTarget(t, pid, fd), "fd %d", fd)
	}
	testutil.Terminate(t, pid, 20*time.Second)
}

// TestPostexecChildLikeChg starts the server the way chg does: no
// --daemon, --daemon-postexec chdir:/ (and a lock file to know when it is
// ready).
func TestPostexecChildLikeChg(t *testing.T) {
	dir := testutil.ShortDir(t)
	sock, pidPath, lock := filepath.Join(dir, "s"), filepath.Join(dir, "pid"), filepath.Join(dir, "lock")
	require.NoError(t, os.WriteFile(lock, nil, 0o600))
	cmd := helperCmd(t, "--no-profile", "--address", sock, "--pid-file", pidPath,
		"--daemon-postexec", "chdir:/", "--daemon-postexec=unlink:"+lock)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool {
		_, err := os.Stat(lock)
		return os.IsNotExist(err)
	}, 10*time.Second, 10*time.Millisecond, "lock never removed; stderr: %s", &stderr)

	pid := cmd.Process.Pid
	require.Equal(t, pid, hello(t, sock))
	require.Equal(t, pid, testutil.ReadPIDFile(t, pidPath), "without --daemon the process writes its own pid")
	sid, err := unix.Getsid(pid)
	require.NoError(t, err)
	require.Equal(t, pid, sid)
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	require.NoError(t, err)
	require.Equal(t, "/", cwd)
	for fd := 0; fd <= 2; fd++ {
		require.Equal(t, os.DevNull, testutil.FDTarget(t, pid, fd), "fd %d", fd)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
	_, err = os.Stat(sock)
	require.True(t, os.IsNotExist(err))
}

func TestForegroundWritesOwnPIDAndKeepsStdio(t *testing.T) {
	dir := testutil.ShortDir(t)
	sock, pidPath := filepath.Join(dir, "s"), filepath.Join(dir, "pid")
	cmd := helperCmd(t, "--address", sock, "--pid-file", pidPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(pidPath)
		return len(b) > 0
	}, 10*time.Second, 10*time.Millisecond, "no pid file; stderr: %s", &stderr)
	pid := cmd.Process.Pid
	require.Equal(t, pid, testutil.ReadPIDFile(t, pidPath))
	require.Equal(t, pid, hello(t, sock), "the pid file is written once the socket accepts")
	require.NotEqual(t, os.DevNull, testutil.FDTarget(t, pid, 2), "a foreground server keeps its stderr")
	sid, _ := unix.Getsid(pid)
	require.NotEqual(t, pid, sid, "a foreground server stays in its session")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
	require.Contains(t, stderr.String(), "listening", "without cmdserver.log the log goes to stderr")
}

func TestDaemonChildFailuresAreReported(t *testing.T) {
	dir := testutil.ShortDir(t)
	busy := filepath.Join(dir, "busy")
	l, err := net.Listen("unix", busy)
	require.NoError(t, err)
	defer l.Close()
	cases := []struct {
		name    string
		args    []string
		want    string
		inChild bool // false: the parent finds it before starting a child
	}{
		{"missing directory", []string{"--address", filepath.Join(dir, "no", "such", "s")}, "no such file or directory", true},
		{"address in use", []string{"--address", busy}, "address already in use", true},
		{"log in missing directory", []string{"--address", filepath.Join(dir, "s3"), "--config", "cmdserver.log=" + filepath.Join(dir, "no", "log")}, "opening log file", true},
		{"bad size", []string{"--address", filepath.Join(dir, "s1"), "--config", "cmdserver.max-log-size=lots"}, "abort: cmdserver.max-log-size is not a byte quantity ('lots')", false},
		{"malformed config", []string{"--address", filepath.Join(dir, "s2"), "--config", "nodot"}, "abort: malformed --config option: 'nodot'", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pidPath := filepath.Join(dir, "pid-"+strings.ReplaceAll(c.name, " ", "-"))
			cmd := helperCmd(t, append(c.args, "--daemon", "--pid-file", pidPath)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, 255, ee.ExitCode())
			require.Contains(t, stderr.String(), c.want, "the child's own reason")
			if c.inChild {
				require.Contains(t, stderr.String(), "abort: child process failed to start")
			}
			b, _ := os.ReadFile(pidPath)
			require.Empty(t, b, "no pid file for a server that never started")
		})
	}
}

func TestBadPostexecAborts(t *testing.T) {
	for _, extra := range [][]string{nil, {"--daemon"}} {
		cmd := helperCmd(t, append([]string{"--address", "/nonexistent/s", "--daemon-postexec", "chdir:/", "--daemon-postexec", "reboot"}, extra...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 255, ee.ExitCode())
		require.Equal(t, "abort: invalid value for --daemon-postexec: reboot\n", stderr.String())
		require.Empty(t, stdout.String())
	}
}

func TestPIDFileAppend(t *testing.T) {
	dir := testutil.ShortDir(t)
	pidPath := filepath.Join(dir, "pids")
	var pids []int
	for i := 0; i < 2; i++ {
		out, err := helperCmd(t, "--address", filepath.Join(dir, fmt.Sprint(i)), "--daemon", "--pid-file", pidPath,
			"--config", "cmdserver.pid-file-append=true").CombinedOutput()
		require.NoError(t, err, "output: %s", out)
		pids = append(pids, hello(t, filepath.Join(dir, fmt.Sprint(i))))
		t.Cleanup(func() { _ = unix.Kill(pids[i], unix.SIGKILL) })
	}
	b, err := os.ReadFile(pidPath)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%d\n%d\n", pids[0], pids[1]), string(b))
	for _, pid := range pids {
		testutil.Terminate(t, pid, 20*time.Second)
	}
}

func TestDaemonLogRotation(t *testing.T) {
	dir := testutil.ShortDir(t)
	sock, pidPath, logPath := filepath.Join(dir, "s"), filepath.Join(dir, "pid"), filepath.Join(dir, "log")
	out, err := helperCmd(t, "--address", sock, "--daemon", "--pid-file", pidPath, "--config", "cmdserver.log="+logPath,
		"--config", "cmdserver.max-log-size=300 b", "--config", "cmdserver.max-log-files=3").CombinedOutput()
	require.NoError(t, err, "output: %s", out)
	pid := testutil.ReadPIDFile(t, pidPath)
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	for i := 0; i < 40; i++ {
		hello(t, sock)
	}
	testutil.Terminate(t, pid, 20*time.Second)
	names, err := filepath.Glob(logPath + "*")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{logPath, logPath + ".1", logPath + ".2"}, names)
	// After a rotation the daemon's fds 1 and 2 follow the log.
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.Contains(t, string(b), "shutting down")
}

func TestTrackLogFilters(t *testing.T) {
	dir := testutil.ShortDir(t)
	sock, pidPath, logPath := filepath.Join(dir, "s"), filepath.Join(dir, "pid"), filepath.Join(dir, "log")
	out, err := helperCmd(t, "--address", sock, "--daemon", "--pid-file", pidPath, "--config", "cmdserver.log="+logPath,
		"--config", "cmdserver.track-log=chgserver").CombinedOutput()
	require.NoError(t, err, "output: %s", out)
	pid := testutil.ReadPIDFile(t, pidPath)
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	hello(t, sock)
	testutil.Terminate(t, pid, 20*time.Second)
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.Empty(t, string(b), "cmdserver events are not tracked")
}

func TestLogDashGoesToStderr(t *testing.T) {
	dir := testutil.ShortDir(t)
	sock, pidPath := filepath.Join(dir, "s"), filepath.Join(dir, "pid")
	cmd := helperCmd(t, "--address", sock, "--pid-file", pidPath, "--config", "cmdserver.log=-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(pidPath)
		return len(b) > 0
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
	require.Regexp(t, `(?m)^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \(`+strconv.Itoa(cmd.Process.Pid)+`\)> listening: `, stderr.String())
}

func TestSocketActivationHelper(t *testing.T) {
	sa := testutil.NeedExternal(t, "systemd-socket-activate")
	exe, err := os.Executable()
	require.NoError(t, err)
	sock := filepath.Join(testutil.ShortDir(t), "s")
	cmd := exec.Command(sa, "-l", sock, "-E", serviceHelperEnv+"=1", "-E", "GORACE=atexit_sleep_ms=0", exe, "serve", "--cmdserver", "unix")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pid int
	// The file appears at bind, before systemd-socket-activate listens:
	// wait until a connect succeeds.
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", sock)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}, 10*time.Second, 10*time.Millisecond, "stderr: %s", &stderr)
	pid = hello(t, sock)
	require.Equal(t, pid, hello(t, sock), "one server serves every connection")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "stderr: %s", &stderr)
	_, err = os.Stat(sock)
	require.NoError(t, err, "an activated server never unlinks its socket")
}

// TestReadyFailureStopsService: a postexec instruction that fails once the
// socket is bound is reported to the caller and stops the service.
func TestReadyFailureStopsService(t *testing.T) {
	dir := testutil.ShortDir(t)
	sock := filepath.Join(dir, "s")
	cmd := helperCmd(t, "--address", sock, "--daemon-postexec", "chdir:"+filepath.Join(dir, "missing"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 255, ee.ExitCode())
	require.Contains(t, stderr.String(), "abort: detaching: changing directory: chdir "+filepath.Join(dir, "missing"))
	_, err = os.Stat(sock)
	require.True(t, os.IsNotExist(err), "the service shut down and removed its socket")
}
