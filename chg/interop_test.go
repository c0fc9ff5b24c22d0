package chg

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// chgEnv runs the real chg against a cmdsrv binary with its own socket.
type chgEnv struct {
	t    testing.TB
	chg  string
	bin  string
	dir  string
	sock string
	env  []string
}

func newChgEnv(t testing.TB, bin string) *chgEnv {
	t.Helper()
	path := testutil.NeedExternal(t, "chg")
	if bin == "" {
		bin = testutil.Binary(t)
	}
	dir := testutil.ShortDir(t)
	e := &chgEnv{t: t, chg: path, bin: bin, dir: dir, sock: filepath.Join(dir, "server")}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CHG") || strings.HasPrefix(kv, "HG") {
			continue
		}
		e.env = append(e.env, kv)
	}
	e.env = append(e.env, "CHGHG="+bin, "CHGSOCKNAME="+e.sock, "CHGTIMEOUT=30")
	t.Cleanup(e.stop)
	return e
}

// stop removes the sockets, so the servers exit within a second, and waits
// for them.
func (e *chgEnv) stop() {
	pids := e.servers()
	ents, _ := os.ReadDir(e.dir)
	for _, ent := range ents {
		_ = os.Remove(filepath.Join(e.dir, ent.Name()))
	}
	for _, pid := range pids {
		waitGone(e.t, pid, 10*time.Second)
	}
}

func (e *chgEnv) command(args ...string) *exec.Cmd {
	c := exec.Command(e.chg, args...)
	c.Env = e.env
	c.Dir = e.dir
	return c
}

// run runs chg and returns its status, stdout and stderr.
func (e *chgEnv) run(c *exec.Cmd) (int, string, string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { done <- c.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = c.Process.Kill()
		e.t.Fatalf("chg %q did not finish; stderr so far: %s", c.Args, errb.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.t.Fatalf("chg %q: %v", c.Args, err)
	}
	return c.ProcessState.ExitCode(), out.String(), errb.String()
}

func (e *chgEnv) chgRun(args ...string) (int, string, string) {
	e.t.Helper()
	return e.run(e.command(args...))
}

// servers returns the pids of the chg servers started for this env:
// processes whose command line has --address under its directory.
func (e *chgEnv) servers() []int {
	return testutil.Processes(func(_ int, argv []string) bool {
		for i, a := range argv {
			if a == "--address" && i+1 < len(argv) && strings.HasPrefix(argv[i+1], e.dir+"/") {
				return true
			}
		}
		return false
	})
}

// children returns the pids whose parent is ppid.
func children(ppid int) []int {
	return testutil.Processes(func(pid int, _ []string) bool {
		_, parent := testutil.ProcStat(pid)
		return parent == ppid
	})
}

// waitGone waits until pid has exited and returns how long that took.
func waitGone(t testing.TB, pid int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for testutil.Alive(pid) {
		if time.Since(start) > limit {
			t.Fatalf("process %d still running after %v", pid, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// busyWorker waits for the worker serving chg process chgPID: the child of
// a server whose title chg set with setprocname.
func (e *chgEnv) busyWorker(chgPID int) int {
	e.t.Helper()
	// chg names its worker "chg[worker/PID]"; comm keeps 15 bytes of it
	// (for a pid under 1000 the whole name, bracket included).
	want := "chg[worker/" + strconv.Itoa(chgPID) + "]"
	if len(want) > 15 {
		want = want[:15]
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, srv := range e.servers() {
			for _, w := range children(srv) {
				b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(w), "comm"))
				if strings.TrimSpace(string(b)) == want {
					return w
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("no worker titled %q", want)
	return 0
}

// catching reports whether pid has a handler installed for sig.
func catching(pid int, sig syscall.Signal) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}

func TestChgBasics(t *testing.T) {
	e := newChgEnv(t, "")
	code, out, errOut := e.chgRun("echo", "hi")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "hi\n", out)
	require.Len(t, e.servers(), 1)
	target, err := os.Readlink(e.sock)
	require.NoError(t, err)
	require.Regexp(t, `^server-[0-9a-f]{12}$`, target)

	for _, d := range []string{t.TempDir(), "/"} {
		c := e.command("pwd")
		c.Dir = d
		code, out, _ = e.run(c)
		require.Equal(t, 0, code)
		real, _ := filepath.EvalSymlinks(d)
		require.Equal(t, real+"\n", out)
	}

	for _, v := range []string{"one", "two"} {
		c := e.command("env", "CHGTEST_NAME")
		c.Env = append(c.Env, "CHGTEST_NAME="+v)
		_, out, _ = e.run(c)
		require.Equal(t, v+"\n", out)
	}

	c := exec.Command("/bin/sh", "-c", `umask 077; exec "$0" umask`, e.chg)
	c.Env, c.Dir = e.env, e.dir
	_, out, _ = e.run(c)
	require.Equal(t, "0077\n", out)

	code, _, _ = e.chgRun("exit", "3")
	require.Equal(t, 3, code)

	c = e.command("cat")
	c.Stdin = strings.NewReader("data")
	_, out, _ = e.run(c)
	require.Equal(t, "data", out)

	require.Len(t, e.servers(), 1, "every call went to the same server")
}

func TestChgSystemRunsInTheClient(t *testing.T) {
	e := newChgEnv(t, "")
	code, _, errOut := e.chgRun("system", "exit 7")
	require.Equal(t, 7, code, errOut)

	c := e.command("system", `echo $PPID`)
	code, out, _ := e.run(c)
	require.Equal(t, 0, code)
	require.Equal(t, strconv.Itoa(c.Process.Pid)+"\n", out, "the shell is a child of chg")
}

func TestChgBadConfig(t *testing.T) {
	e := newChgEnv(t, "")
	// No server yet: chg passes --config to the server it starts, which
	// refuses it; chg exits with the server's status.
	code, _, errOut := e.chgRun("--config", "nodot", "echo", "hi")
	require.Equal(t, 255, code)
	require.Contains(t, errOut, "malformed --config option: 'nodot'")

	// A running server refuses it in validate, on chg's own stderr.
	code, _, _ = e.chgRun("echo", "hi")
	require.Equal(t, 0, code)
	code, out, errOut := e.chgRun("--config", "nodot", "echo", "hi")
	require.Equal(t, 255, code)
	require.Empty(t, out)
	require.Equal(t, "abort: malformed --config option: 'nodot' (use --config section.name=value)\n", errOut)
}

// TestChgHandsOverOnNewBinary: when the binary changes, validate has the
// server hand over to it in place and chg reconnects to the same socket,
// served by the same pid running the new binary: no cold server.
func TestChgHandsOverOnNewBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cmdsrv")
	data, err := os.ReadFile(testutil.Binary(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	e := newChgEnv(t, bin)

	code, _, errOut := e.chgRun("echo", "one")
	require.Equal(t, 0, code, errOut)
	old := e.servers()
	require.Len(t, old, 1)

	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(bin, later, later))
	c := e.command("echo", "two")
	c.Env = append(c.Env, "CHGDEBUG=1")
	code, out, errOut := e.run(c)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "two\n", out)
	require.NotContains(t, errOut, "instruction: unlink")
	require.Contains(t, errOut, "instruction: reconnect")
	require.NotContains(t, errOut, "start cmdserver")
	require.Equal(t, old, e.servers(), "the same server, handed over")

	c = e.command("true")
	c.Env = append(c.Env, "CHGDEBUG=1")
	code, _, errOut = e.run(c)
	require.Equal(t, 0, code)
	require.NotContains(t, errOut, "instruction:", "the handed-over server is not outdated")
	require.Equal(t, old, e.servers())
}

func TestChgIdleTimeout(t *testing.T) {
	e := newChgEnv(t, "")
	code, _, errOut := e.chgRun("--config", "chgserver.idletimeout=2", "echo", "hi")
	require.Equal(t, 0, code, errOut)
	srv := e.servers()
	require.Len(t, srv, 1)
	target, err := os.Readlink(e.sock)
	require.NoError(t, err)
	t.Logf("idle server exited after %v", waitGone(t, srv[0], 15*time.Second))
	_, err = os.Lstat(filepath.Join(e.dir, target))
	require.ErrorIs(t, err, os.ErrNotExist, "the server removes its own socket")
}

func TestChgInterrupt(t *testing.T) {
	e := newChgEnv(t, "")
	c := e.command("sleep", "30")
	var errb bytes.Buffer
	c.Stderr = &errb
	require.NoError(t, c.Start())
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	e.busyWorker(c.Process.Pid)
	// chg forwards SIGINT once it runs the command (its handler is then
	// installed); repeat in case the first one lands before the worker
	// has started the command.
	start := time.Now()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		if catching(c.Process.Pid, syscall.SIGINT) {
			_ = c.Process.Signal(syscall.SIGINT)
		}
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			if time.Since(start) > 20*time.Second {
				t.Fatal("chg sleep 30 not interrupted")
			}
		}
	}
	t.Logf("interrupted after %v", time.Since(start))
	require.Equal(t, 255, c.ProcessState.ExitCode())
	require.Contains(t, errb.String(), "interrupted!")
}

func TestChgKilledClientEndsItsCommand(t *testing.T) {
	e := newChgEnv(t, "")
	c := e.command("sleep", "30")
	require.NoError(t, c.Start())
	worker := e.busyWorker(c.Process.Pid)
	for !catching(c.Process.Pid, syscall.SIGINT) { // the command is under way
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, c.Process.Kill())
	_ = c.Wait()
	t.Logf("worker %d exited %v after chg was killed", worker, waitGone(t, worker, 5*time.Second))
}

func TestChgPager(t *testing.T) {
	e := newChgEnv(t, "")
	dir := t.TempDir()
	seen := filepath.Join(dir, "paged")
	pager := filepath.Join(dir, "pager.sh")
	require.NoError(t, os.WriteFile(pager, []byte("#!/bin/sh\n{ echo PAGER-START; cat; echo PAGER-END; } > "+seen+"\n"), 0o755))
	input := filepath.Join(dir, "input")
	require.NoError(t, os.WriteFile(input, []byte("line one\nline two\n"), 0o644))

	c := e.command("--pager", "on", "--config", "pager.pager="+pager, "cat", input)
	tty, err := pty.Start(c)
	require.NoError(t, err)
	defer tty.Close()
	var screen testutil.SyncBuffer
	go func() { _, _ = io.Copy(&screen, tty) }() // ends when tty is closed
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.Process.Kill()
		t.Fatal("chg did not end: the pager never saw end of input")
	}
	require.Equal(t, 0, c.ProcessState.ExitCode(), screen.String())
	got, err := os.ReadFile(seen)
	require.NoError(t, err)
	require.Equal(t, "PAGER-START\nline one\nline two\nPAGER-END\n", string(got))
	require.NotContains(t, screen.String(), "line one", "the output went through the pager only")
}

// TestChgStdoutReaderGone: a reader of the client's stdout that quits
// early (`| head`) makes the command's writes fail with EPIPE; it must not
// kill the worker, which chg would report as 255 with no message.
func TestChgStdoutReaderGone(t *testing.T) {
	e := newChgEnv(t, "")
	code, _, errOut := e.chgRun("echo", "warm")
	require.Equal(t, 0, code, errOut)

	c := e.command("debugoutput", "64M")
	r, w, err := os.Pipe()
	require.NoError(t, err)
	c.Stdout = w
	var errb bytes.Buffer
	c.Stderr = &errb
	require.NoError(t, c.Start())
	w.Close()
	buf := make([]byte, 5)
	_, err = io.ReadFull(r, buf)
	require.NoError(t, err)
	r.Close() // the reader quits, like head -c 5
	err = c.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode(), "the command saw EPIPE and failed; stderr: %s", errb.String())

	code, out, _ := e.chgRun("echo", "after")
	require.Equal(t, 0, code)
	require.Equal(t, "after\n", out)
}

// TestChgConfigDoesNotStick: chg passes the first caller's --config to the
// server it starts; that must not become the next caller's configuration,
// and the server's own bookkeeping is not a setting either.
func TestChgConfigDoesNotStick(t *testing.T) {
	e := newChgEnv(t, "")
	code, out, errOut := e.chgRun("--config", "ui.interactive=true", "config", "ui.interactive")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "true\n", out)
	require.NotEmpty(t, e.servers(), "the first call started a server")

	code, out, _ = e.chgRun("config", "ui.interactive")
	require.Equal(t, 1, code, "unset for the next caller, got %q", out)
	code, out, _ = e.chgRun("config")
	require.Equal(t, 0, code)
	require.NotContains(t, out, "x-cmdsrv-state")
}

// TestChgDebugLogStaysOffTheClient: at debug level a worker's log goes to
// the server's log, never to the client's stderr (which attachio made the
// worker's fd 2), and each session's log gives the server's side of each
// request with its duration.
func TestChgDebugLogStaysOffTheClient(t *testing.T) {
	e := newChgEnv(t, "")
	e.env = append(e.env, "CMDSRV_LOG_LEVEL=debug")
	logPath := filepath.Join(e.dir, "log")
	for i := 0; i < 2; i++ {
		code, out, errs := e.chgRun("--config", "cmdserver.log="+logPath, "echo", "hi")
		require.Equal(t, 0, code, errs)
		require.Equal(t, "hi\n", out)
		require.Empty(t, errs, "nothing of the server's log on the client's stderr")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "requests served") {
			for _, req := range []string{"hello=", "attachio=", "chdir=", "setenv=", "validate=", "runcommand="} {
				require.Contains(t, string(b), req)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request timings in the server log:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
