//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// The client mode (issue 8): the reference binary run with
// CMDSRV_CLIENT=auto is its own chg; and the thin client cmd/cmdsrv-chg
// (issue 15) does the same from outside the binary. Every test runs with
// both clients (subtests own/ and thin/). These tests drive the real
// binaries as a user's shell would, with an isolated CMDSRV_SOCKNAME and a
// PATH on which there is no Mercurial chg (nor anything else).

// clientKinds are the clients every client-mode test runs with.
var clientKinds = []string{"own", "thin"}

// forClients runs f as one subtest per client kind.
func forClients(t *testing.T, f func(t *testing.T, kind string)) {
	for _, kind := range clientKinds {
		t.Run(kind, func(t *testing.T) { f(t, kind) })
	}
}

// clientFor returns what a user runs to call the application bin through
// the client kind: the program, and the variables that select the client
// ("own": bin itself with CMDSRV_CLIENT=auto; "thin": cmdsrv-chg with
// CMDSRV_APP=bin).
func clientFor(t testing.TB, kind, bin string) (string, []string) {
	if kind == "thin" {
		return thinClient(t), []string{"CMDSRV_APP=" + bin}
	}
	return bin, []string{"CMDSRV_CLIENT=auto"}
}

// thinClient is the thin client binary.
func thinClient(t testing.TB) string {
	return testutil.BuildCommand(t, "./cmd/cmdsrv-chg", "cmdsrv-chg")
}

// clientEnv is one isolated client setup: a private socket directory
// whose servers are killed at the end of the test.
type clientEnv struct {
	t      *testing.T
	bin    string // the application
	client string // what the user runs: bin, or the thin client
	dir    string // socket directory
	sock   string // CMDSRV_SOCKNAME
	env    []string
}

func newClientEnv(t *testing.T, kind, bin string) *clientEnv {
	t.Helper()
	dir := testutil.ShortDir(t)
	require.NoError(t, os.Chmod(dir, 0o700))
	client, vars := clientFor(t, kind, bin)
	e := &clientEnv{t: t, bin: bin, client: client, dir: dir, sock: filepath.Join(dir, "s")}
	e.env = append(append(baseEnv(t), vars...),
		"CMDSRV_SOCKNAME="+e.sock,
		"CMDSRV_DEBUG=1", // a direct run says why: tests see any fallback
	)
	t.Cleanup(func() { killServers(t, dir) })
	return e
}

// baseEnv is the test process's environment without cmdsrv's variables,
// with an empty PATH directory (no chg, no hg) and a private
// XDG_RUNTIME_DIR.
func baseEnv(t testing.TB) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CMDSRV_") || strings.HasPrefix(k, "CHG") || k == "PATH" || k == "XDG_RUNTIME_DIR" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+t.TempDir(), "XDG_RUNTIME_DIR="+testutil.ShortDir(t))
}

func (e *clientEnv) command(args ...string) *exec.Cmd {
	c := exec.Command(e.client, args...)
	c.Env = append([]string(nil), e.env...)
	return c
}

// runCmd runs a client to completion and returns its status, stdout and
// stderr.
func runCmd(t *testing.T, c *exec.Cmd) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %q: %v", c.Args, err)
	}
	return c.ProcessState.ExitCode(), out.String(), errb.String()
}

// served runs args through the client mode and requires that the command
// was served by a server: CMDSRV_DEBUG=1 prints nothing unless it ran
// directly.
func (e *clientEnv) served(args ...string) (int, string, string) {
	e.t.Helper()
	code, out, errs := runCmd(e.t, e.command(args...))
	require.NotContains(e.t, errs, "client:", "the command ran directly")
	return code, out, errs
}

// serverPids lists the chgunix servers (masters, whose command line names
// the socket) of dir.
func serverPids(dir string) []int {
	return testutil.Processes(func(_ int, argv []string) bool {
		s := strings.Join(argv, "\x00")
		return strings.Contains(s, "\x00chgunix\x00") && strings.Contains(s, dir+"/")
	})
}

// procState is the state letter of /proc/PID/stat (R, S, T, Z, ...), or 0.
func procState(pid int) byte {
	state, _ := testutil.ProcStat(pid)
	return state
}

// waitServers waits until exactly n servers of dir remain, and returns
// their pids.
func waitServers(t testing.TB, dir string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := serverPids(dir)
		if len(pids) == n || time.Now().After(deadline) {
			require.Len(t, pids, n, "servers of %s: %v", dir, pids)
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killServers removes dir (a chg server exits when its socket is gone)
// and SIGTERMs the servers still there, waiting for them to exit.
func killServers(t testing.TB, dir string) {
	_ = os.RemoveAll(dir)
	for _, pid := range serverPids(dir) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(serverPids(dir)) > 0 {
		if time.Now().After(deadline) {
			t.Errorf("servers of %s still running: %v", dir, serverPids(dir))
			for _, pid := range serverPids(dir) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClientModeExitCodesAndCallerState(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		e := newClientEnv(t, kind, testutil.Binary(t))

		code, out, _ := e.served("echo", "hi")
		require.Equal(t, 0, code)
		require.Equal(t, "hi\n", out)
		first := waitServers(t, e.dir, 1)

		code, _, _ = e.served("exit", "3")
		require.Equal(t, 3, code)
		code, _, _ = e.served("exit", "-1")
		require.Equal(t, 255, code)

		// The caller's directory, environment and umask, not the server's
		// (it was started from the test's directory, with none of these).
		for _, name := range []string{"one", "two"} {
			dir := filepath.Join(t.TempDir(), name)
			require.NoError(t, os.Mkdir(dir, 0o755))
			real, err := filepath.EvalSymlinks(dir)
			require.NoError(t, err)
			c := e.command("pwd")
			c.Dir = real
			code, out, _ := runCmd(t, c)
			require.Equal(t, 0, code)
			require.Equal(t, real+"\n", out)

			c = e.command("env", "CALLER_VALUE")
			c.Env = append(c.Env, "CALLER_VALUE="+name)
			code, out, _ = runCmd(t, c)
			require.Equal(t, 0, code)
			require.Equal(t, name+"\n", out)
		}
		for _, mask := range []string{"0027", "0077"} {
			c := exec.Command("/bin/sh", "-c", `umask "$1"; exec "$2" umask`, "sh", mask, e.client)
			c.Env = e.env
			code, out, errs := runCmd(t, c)
			require.Equal(t, 0, code, errs)
			require.Equal(t, mask+"\n", out)
			require.Empty(t, errs)
		}
		// All of it was served by the one server started first.
		require.Equal(t, first, waitServers(t, e.dir, 1))
	})
}

// ptyRun is a process on a new pseudo-terminal whose output is collected.
type ptyRun struct {
	t      *testing.T
	master *os.File
	tty    string // the terminal's name, /dev/pts/N
	cmd    *exec.Cmd
	out    testutil.SyncBuffer
	done   chan struct{} // closed when the output ends
}

// startPty starts c as the session leader of a new terminal; with echo
// false, the terminal does not echo input.
func startPty(t *testing.T, c *exec.Cmd, echo bool) *ptyRun {
	t.Helper()
	master, tty, err := pty.Open()
	require.NoError(t, err)
	if !echo {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), ioctlGetTermios)
		require.NoError(t, err)
		tio.Lflag &^= unix.ECHO
		require.NoError(t, unix.IoctlSetTermios(int(tty.Fd()), ioctlSetTermios, tio))
	}
	c.Stdin, c.Stdout, c.Stderr = tty, tty, tty
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, c.Start())
	p := &ptyRun{t: t, master: master, tty: tty.Name(), cmd: c, done: make(chan struct{})}
	tty.Close()
	go func() {
		defer close(p.done)
		_, _ = io.Copy(&p.out, master)
	}()
	t.Cleanup(func() {
		if c.ProcessState == nil {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		// Whatever still holds the terminal was started by this test
		// (a client, a worker); a stopped one must not linger.
		for _, pid := range p.attached() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		master.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			t.Errorf("terminal %s still open: %v", p.tty, p.attached())
		}
	})
	return p
}

// waitOutput waits until the terminal has shown s.
func (p *ptyRun) waitOutput(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.out.String(), s) {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %q; terminal shows %q", s, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for the process and returns its exit status (-1 when a
// signal killed it) and the whole output.
func (p *ptyRun) wait(timeout time.Duration) (int, string) {
	p.t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-exited
		p.t.Fatalf("%q did not end within %v; terminal shows %q", p.cmd.Args, timeout, p.out.String())
	}
	// The output ends once no process holds the terminal any more.
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	return p.cmd.ProcessState.ExitCode(), p.out.String()
}

// attached returns the pids, other than those of except, whose stdout is
// this terminal: a worker serving a command after attachio.
func (p *ptyRun) attached(except ...int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
outer:
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		for _, x := range except {
			if pid == x {
				continue outer
			}
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/1", pid)); err == nil && l == p.tty {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitAttached waits until exactly n processes besides except have
// attached the terminal (after attachio, a worker does), and returns them.
func (p *ptyRun) waitAttached(n int, except ...int) []int {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := p.attached(except...)
		if len(pids) == n {
			return pids
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("want %d processes on %s, have %v; terminal shows %q", n, p.tty, pids, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientModeTerminal(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		e := newClientEnv(t, kind, testutil.Binary(t))

		// The served command's own stdio are the client's terminal.
		p := startPty(t, e.command("debugisatty"), true)
		code, out := p.wait(30 * time.Second)
		require.Equal(t, 0, code, out)
		require.Equal(t, "stdin: tty\r\nstdout: tty\r\nstderr: tty\r\n", out)
		waitServers(t, e.dir, 1)

		// And not a terminal when the client's are pipes: the check can fail.
		code, out, _ = e.served("debugisatty")
		require.Equal(t, 0, code)
		require.Equal(t, "stdin: not a tty\nstdout: not a tty\nstderr: not a tty\n", out)
	})
}

func TestClientModePromptOnTerminal(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		bin := testutil.Binary(t)
		e := newClientEnv(t, kind, bin)
		// Served, and (for comparison) run directly: on a terminal a prompt
		// is interactive by default in both.
		for _, mode := range []string{"auto", "off"} {
			t.Run(mode, func(t *testing.T) {
				c := e.command("prompt", "your name?")
				c.Env = append(c.Env, "CMDSRV_CLIENT="+mode)
				p := startPty(t, c, false)
				p.waitOutput("your name? ", 30*time.Second)
				_, err := p.master.Write([]byte("bob\n"))
				require.NoError(t, err)
				code, out := p.wait(30 * time.Second)
				require.Equal(t, 0, code, out)
				require.Equal(t, "your name? bob\r\n", out)
			})
		}
		waitServers(t, e.dir, 1)
	})
}

func TestClientModeCtrlC(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		e := newClientEnv(t, kind, testutil.Binary(t))
		code, _, _ := e.served("true") // a warm server
		require.Equal(t, 0, code)

		p := startPty(t, e.command("sleep", "30"), true)
		p.waitAttached(1, p.cmd.Process.Pid) // the worker
		// The worker has the terminal; wait until the client forwards
		// signals (before that a ^C would end the client alone). A ^C
		// that came before the command started would be ignored by the
		// worker, so repeat it until the client ends.
		waitForwarding(t, p.cmd.Process.Pid)
		start := time.Now()
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			for i := 0; i < 10; i++ {
				select {
				case <-p.done:
					return
				case <-time.After(time.Duration(i) * 500 * time.Millisecond):
				}
				_, _ = p.master.Write([]byte{0x03})
			}
		}()
		code, out := p.wait(15 * time.Second)
		<-exited
		require.Equal(t, 255, code, out)
		require.Contains(t, out, "interrupted!")
		t.Logf("^C ended the command in %v", time.Since(start).Round(time.Millisecond))
		waitServers(t, e.dir, 1)
	})
}

func TestClientModeCtrlZ(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		e := newClientEnv(t, kind, testutil.Binary(t))
		code, _, _ := e.served("true") // a warm server
		require.Equal(t, 0, code)

		// A job-control shell, as a user's: it runs the client as a
		// foreground job in its own process group (the stop signal of a
		// terminal is ignored by an orphaned one), reports the stop, waits
		// for a line, then resumes the job with fg (SIGCONT to the client,
		// which forwards it).
		script := `set -m
	"$1" sleep 2
	echo "stopped: $?"
	read line
	fg >/dev/null
	echo "resumed: $?"
	`
		c := exec.Command("/bin/sh", "-c", script, "sh", e.client)
		c.Env = e.env
		p := startPty(t, c, false)
		shell := c.Process.Pid
		// The client and the worker hold the terminal besides the shell; the
		// client is the shell's child.
		var client, worker int
		for _, pid := range p.waitAttached(2, shell) {
			if ppid(pid) == shell {
				client = pid
			} else {
				worker = pid
			}
		}
		require.NotZero(t, client, "client not found")
		require.Equal(t, shell, ppid(client))

		waitForwarding(t, client) // see TestClientModeCtrlC
		_, err := p.master.Write([]byte{0x1a})
		require.NoError(t, err)
		p.waitOutput("stopped: 148", 10*time.Second)
		require.Eventually(t, func() bool { return procState(client) == 'T' && procState(worker) == 'T' },
			5*time.Second, 10*time.Millisecond, "client %c, worker %c", procState(client), procState(worker))

		_, err = p.master.Write([]byte("\n"))
		require.NoError(t, err)
		code, out := p.wait(20 * time.Second)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "resumed: 0")
	})
}

// waitForwarding waits until the client pid catches SIGTSTP, the last of
// the signals it forwards (they are caught together, shortly after the
// command was handed over): from then on a signal reaches the worker.
func waitForwarding(t *testing.T, pid int) {
	t.Helper()
	caught := func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return false
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
				mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				return err == nil && mask&(1<<(uint(syscall.SIGTSTP)-1)) != 0
			}
		}
		return false
	}
	require.Eventually(t, caught, 10*time.Second, 5*time.Millisecond, "client %d does not catch SIGTSTP", pid)
}

// ppid is the parent of pid, or 0.
func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// TestClientModeBinaryTouched: a binary whose mtime changes (touch) counts
// as a new build; validate has the server hand over to it.
func TestClientModeBinaryTouched(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		// A copy of the binary that only this test uses and touches.
		bin := filepath.Join(t.TempDir(), "cmdsrv")
		src, err := os.ReadFile(testutil.Binary(t))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(bin, src, 0o755))
		e := newClientEnv(t, kind, bin)

		code, out, _ := e.served("echo", "old")
		require.Equal(t, 0, code)
		require.Equal(t, "old\n", out)
		old := waitServers(t, e.dir, 1)

		later := time.Now().Add(time.Hour)
		require.NoError(t, os.Chtimes(bin, later, later))
		code, out, _ = e.served("echo", "new")
		require.Equal(t, 0, code)
		require.Equal(t, "new\n", out)
		// The server handed over to the touched binary in place: the
		// same one answered, and no second server was started.
		now := waitServers(t, e.dir, 1)
		require.Equal(t, old, now)

		code, out, _ = e.served("echo", "again")
		require.Equal(t, 0, code)
		require.Equal(t, "again\n", out)
		require.Equal(t, now, waitServers(t, e.dir, 1))
	})
}

func TestClientModeColdStartRace(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		bin := testutil.Binary(t)
		raced := 0
		for round := 0; round < 3; round++ {
			e := newClientEnv(t, kind, bin)
			var wg sync.WaitGroup
			type result struct {
				code     int
				out, err string
			}
			results := make([]result, 2)
			cmds := make([]*exec.Cmd, 2)
			for i := range cmds {
				cmds[i] = e.command("echo", fmt.Sprint("client ", i))
				cmds[i].Env = append(cmds[i].Env, "CMDSRV_DEBUG=2")
			}
			for i, c := range cmds {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var out, errb bytes.Buffer
					c.Stdout, c.Stderr = &out, &errb
					_ = c.Run()
					results[i] = result{c.ProcessState.ExitCode(), out.String(), errb.String()}
				}()
			}
			wg.Wait()
			started := 0
			for i, r := range results {
				require.Equal(t, 0, r.code, r.err)
				require.Equal(t, fmt.Sprint("client ", i, "\n"), r.out)
				require.NotContains(t, r.err, "running directly")
				if strings.Contains(r.err, "starting server") {
					started++
				}
			}
			if started == 2 {
				raced++
			}
			// The server whose socket name was taken over exits.
			waitServers(t, e.dir, 1)
			code, out, _ := e.served("echo", "after")
			require.Equal(t, 0, code)
			require.Equal(t, "after\n", out)
			killServers(t, e.dir)
		}
		t.Logf("both clients started a server in %d of 3 rounds", raced)
	})
}

// debugLines returns the client-mode debug lines of stderr.
func debugLines(stderr string) []string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "cmdsrv: client: ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// requireFallback runs `client echo hi` with the client's env twice: with
// CMDSRV_DEBUG=1 it runs directly with one debug line containing why;
// without, it prints nothing but the command's output.
func requireFallback(t *testing.T, env []string, client, why string) {
	t.Helper()
	for _, debug := range []bool{true, false} {
		c := exec.Command(client, "echo", "hi")
		for _, kv := range env {
			if !strings.HasPrefix(kv, "CMDSRV_DEBUG=") {
				c.Env = append(c.Env, kv)
			}
		}
		if debug {
			c.Env = append(c.Env, "CMDSRV_DEBUG=1")
		}
		code, out, errs := runCmd(t, c)
		require.Equal(t, 0, code, errs)
		require.Equal(t, "hi\n", out)
		if !debug {
			require.Empty(t, errs)
			continue
		}
		lines := debugLines(errs)
		require.Len(t, lines, 1, "stderr: %q", errs)
		require.Equal(t, lines[0]+"\n", errs)
		require.Contains(t, lines[0], why)
		require.Contains(t, lines[0], "running directly")
	}
}

func TestClientModeForeignSocketDir(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		bin := testutil.Binary(t)
		xdg := testutil.ShortDir(t)
		dir := filepath.Join(xdg, "cmdsrv")
		require.NoError(t, os.Mkdir(dir, 0o700))
		why := "is owned by uid 65534"
		if os.Getuid() == 0 {
			require.NoError(t, os.Chown(dir, 65534, 65534))
		} else {
			// Without root, a directory others may enter stands for it.
			require.NoError(t, os.Chmod(dir, 0o755))
			why = "has mode 755"
		}
		t.Cleanup(func() { killServers(t, dir) })
		client, vars := clientFor(t, kind, bin)
		env := append(append(baseEnv(t), vars...), "XDG_RUNTIME_DIR="+xdg)
		requireFallback(t, env, client, why)
		ents, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Empty(t, ents, "nothing is created in someone else's directory")
		require.Empty(t, serverPids(dir))
	})
}

func TestClientModeFallback(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		bin := testutil.Binary(t)
		client, vars := clientFor(t, kind, bin)
		env := func(sock string) []string {
			return append(append(baseEnv(t), vars...), "CMDSRV_SOCKNAME="+sock)
		}
		t.Run("nonexistent-dir", func(t *testing.T) {
			sock := filepath.Join(testutil.ShortDir(t), "missing", "s")
			requireFallback(t, env(sock), client, "no such file or directory")
		})
		t.Run("read-only-dir", func(t *testing.T) {
			dir := testutil.ShortDir(t)
			if os.Getuid() == 0 {
				// Root writes anywhere but in a read-only file system; sysfs
				// refuses new files.
				dir = "/sys"
			} else {
				require.NoError(t, os.Chmod(dir, 0o500))
			}
			requireFallback(t, env(filepath.Join(dir, "cmdsrv-test-s")), client, "server exited before it accepted")
			require.Empty(t, serverPids(dir+"/cmdsrv-test-s"))
		})
		t.Run("closed-before-hello", func(t *testing.T) {
			// A server that dies as soon as it accepts.
			dir := testutil.ShortDir(t)
			sock := filepath.Join(dir, "s")
			l, err := net.Listen("unix", sock)
			require.NoError(t, err)
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			requireFallback(t, env(sock), client, "reading hello")
		})
		t.Run("failed-before-hello", func(t *testing.T) {
			// A real server whose workers cannot start: each client gets a
			// last 'e' message instead of a hello.
			e := newClientEnv(t, kind, bin)
			addr := e.sock + ".test"
			c := exec.Command(bin, "serve", "--cmdserver", "chgunix", "--address", addr, "--daemon-postexec", "chdir:/")
			c.Env = append(baseEnv(t), "CMDSRV_DEBUG_INIT_DELAY=bogus")
			var out testutil.SyncBuffer
			c.Stdout, c.Stderr = &out, &out
			require.NoError(t, c.Start())
			go func() { _ = c.Wait() }()
			require.Eventually(t, func() bool {
				_, err := os.Stat(addr)
				return err == nil
			}, 10*time.Second, 10*time.Millisecond, "server output: %s", out.String())
			require.NoError(t, os.Rename(addr, e.sock))
			requireFallback(t, e.env, e.client, "failed before its hello")
			waitServers(t, e.dir, 1)
		})
	})
}

// BenchmarkClientModeLoop runs `echo hi` of the reference binary in a
// loop, each call a new process as from a shell, with an expensive
// start-up (CMDSRV_DEBUG_INIT_DELAY=200ms):
//   - direct: CMDSRV_CLIENT=off, every call pays the start-up;
//   - hg-chg/*: Mercurial's chg with CHGHG pointing at the binary
//     (skipped when chg is not installed);
//   - own/*: the binary's own client mode (CMDSRV_CLIENT=auto).
//
// reuse-off forks a fresh worker per call; reuse-on passes
// --config cmdserver.worker-reuse=50 on every call, which the client
// hands to the server it starts. own/* also report their ratio to the
// same hg-chg case (x-hg-chg); own/static/reuse-on is the binary built
// with CGO_ENABLED=0 (no dynamic loading at start-up). Run a loop of 100 calls with
//
//	go test -run '^$' -bench ClientModeLoop -benchtime 100x ./cmd/cmdsrv/
func BenchmarkClientModeLoop(b *testing.B) {
	bin := testutil.Binary(b)
	reuse := map[string][]string{
		"reuse-off": nil,
		"reuse-on":  {"--config", "cmdserver.worker-reuse=50"},
	}
	chgNs := map[string]float64{}
	loop := func(b *testing.B, mk func(args ...string) *exec.Cmd, args []string) {
		for i := 0; i < 2; i++ { // start the server, warm a worker
			if out, err := mk(args...).CombinedOutput(); err != nil || string(out) != "hi\n" {
				b.Fatalf("%v: %v: %q", mk(args...).Args, err, out)
			}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			out, err := mk(args...).Output()
			if err != nil || string(out) != "hi\n" {
				b.Fatalf("call %d: %v: %q", i, err, out)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/call")
	}
	command := func(bin string, env []string) func(args ...string) *exec.Cmd {
		return func(args ...string) *exec.Cmd {
			c := exec.Command(bin, args...)
			c.Env = env
			return c
		}
	}
	env := append(baseEnv(b), "CMDSRV_DEBUG_INIT_DELAY=200ms")
	echo := []string{"echo", "hi"}

	b.Run("direct", func(b *testing.B) {
		loop(b, command(bin, append(env, "CMDSRV_CLIENT=off")), echo)
	})
	for _, r := range []string{"reuse-off", "reuse-on"} {
		b.Run("hg-chg/"+r, func(b *testing.B) {
			chg, err := exec.LookPath("chg")
			if err != nil {
				testutil.NeedExternal(b, "chg")
			}
			dir := testutil.ShortDir(b)
			defer killServers(b, dir)
			loop(b, command(chg, append(env, "CHGHG="+bin, "CHGSOCKNAME="+filepath.Join(dir, "s"))), append(reuse[r], echo...))
			chgNs[r] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
	}
	// The same binary built without cgo: no dynamic loader at start-up.
	static := filepath.Join(b.TempDir(), "cmdsrv")
	build := exec.Command("go", "build", "-o", static, "./cmd/cmdsrv")
	build.Dir, build.Env = testutil.ModuleRoot(b), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building without cgo: %v\n%s", err, out)
	}
	for _, r := range []string{"reuse-off", "reuse-on", "static/reuse-on"} {
		bin := bin
		if r == "static/reuse-on" {
			bin = static
		}
		b.Run("own/"+r, func(b *testing.B) {
			dir := testutil.ShortDir(b)
			defer killServers(b, dir)
			r := strings.TrimPrefix(r, "static/")
			loop(b, command(bin, append(env, "CMDSRV_CLIENT=auto", "CMDSRV_SOCKNAME="+filepath.Join(dir, "s"))), append(reuse[r], echo...))
			if ns := chgNs[r]; ns > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/ns, "x-hg-chg")
			}
		})
	}
}

// TestClientModePager: the server asks the client to start the pager; the
// client runs it with the command's output and waits for it.
func TestClientModePager(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		e := newClientEnv(t, kind, testutil.Binary(t))
		in := filepath.Join(t.TempDir(), "in.txt")
		require.NoError(t, os.WriteFile(in, []byte("one\ntwo\n"), 0o644))
		code, out, errOut := e.served("--pager", "on", "--config", "pager.pager=/bin/sed s/^/PAGER:/", "cat", in)
		require.Equal(t, 0, code, errOut)
		require.Equal(t, "PAGER:one\nPAGER:two\n", out)
	})
}

// TestClientModeSystem: the server asks the client to run `system`
// commands; the client runs them with its own descriptors and reports
// their status.
func TestClientModeSystem(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		e := newClientEnv(t, kind, testutil.Binary(t))
		code, out, errOut := e.served("system", "echo from-client; exit 7")
		require.Equal(t, 7, code, errOut)
		require.Equal(t, "from-client\n", out)
	})
}

// TestClientModeStdin: the served command reads the client's own stdin
// (passed with attachio), to its end.
func TestClientModeStdin(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		e := newClientEnv(t, kind, testutil.Binary(t))
		in := strings.Repeat("a line of input\n", 10000) // more than a pipe buffer
		c := e.command("cat", "-")
		c.Stdin = strings.NewReader(in)
		code, out, errOut := runCmd(t, c)
		require.NotContains(t, errOut, "client:", "the command ran directly")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, in, out)
	})
}

// TestClientModeWorkersDetached: the workers of a server a client started
// are in the server's own session, not the client's: one left in the
// caller's session would sit in a background process group of the
// caller's terminal, and its reads of that terminal would fail.
func TestClientModeWorkersDetached(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		e := newClientEnv(t, kind, testutil.Binary(t))
		code, _, errs := e.served("true")
		require.Equal(t, 0, code, errs)
		master := waitServers(t, e.dir, 1)[0]
		require.NotEqual(t, sessionID(os.Getpid()), sessionID(master), "the server leads a session of its own")
		var workers []int
		require.Eventually(t, func() bool {
			workers = testutil.Processes(func(pid int, _ []string) bool { return ppid(pid) == master })
			return len(workers) > 0
		}, 10*time.Second, 10*time.Millisecond, "no worker of %d", master)
		for _, w := range workers {
			require.Equal(t, sessionID(master), sessionID(w), "worker %d", w)
		}
	})
}

// sessionID is the session id of pid, or -1.
func sessionID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 4 {
		return -1
	}
	n, _ := strconv.Atoi(f[3])
	return n
}
