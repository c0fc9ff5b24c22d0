//go:build unix

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// Tests of what only the thin client cmd/cmdsrv-chg does: finding the
// application. Its behaviour as a client is tested with the own client
// mode's tests (clientmode_test.go, subtests thin/).

// linkDir makes a directory holding a symlink named name to the thin
// client, as a user installs it.
func linkDir(t *testing.T, name string) string {
	dir := t.TempDir()
	require.NoError(t, os.Symlink(thinClient(t), filepath.Join(dir, name)))
	return dir
}

// TestThinClientSymlink: installed as a symlink named after the
// application, in a PATH directory before the real binary, the thin client
// serves the application of that name: the real binary found further on
// PATH, never itself.
func TestThinClientSymlink(t *testing.T) {
	bin := testutil.Binary(t)
	links := linkDir(t, "cmdsrv")
	dir := testutil.ShortDir(t)
	t.Cleanup(func() { killServers(t, dir) })
	env := append(baseEnv(t), "PATH="+links+":"+filepath.Dir(bin), "CMDSRV_SOCKNAME="+filepath.Join(dir, "s"), "CMDSRV_DEBUG=1")

	c := exec.Command(filepath.Join(links, "cmdsrv"), "echo", "hi")
	c.Args[0] = "cmdsrv" // as a shell runs a command found on PATH
	c.Env = env
	code, out, errs := runCmd(t, c)
	require.Equal(t, 0, code, errs)
	require.Equal(t, "hi\n", out)
	require.Empty(t, errs, "served, not run directly")
	pids := waitServers(t, dir, 1)
	argv := procArgv(t, pids[0])
	require.Equal(t, "cmdsrv", argv[0], "the server is started under the application's name")
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pids[0]) + "/exe")
	require.NoError(t, err)
	require.Equal(t, bin, exe, "the server is the application, not the client")

	// A CMDSRV_APP of another application does not change which one the
	// link serves; one of the same name says where it is.
	c = exec.Command(filepath.Join(links, "cmdsrv"), "echo", "again")
	c.Args[0] = "cmdsrv"
	c.Env = append(env, "CMDSRV_APP=/nonexistent/otherapp")
	code, out, errs = runCmd(t, c)
	require.Equal(t, 0, code, errs)
	require.Equal(t, "again\n", out)
	require.Empty(t, errs)

	// With only links to the client on PATH there is no application.
	c = exec.Command(filepath.Join(links, "cmdsrv"), "echo", "hi")
	c.Args[0] = "cmdsrv"
	c.Env = append(baseEnv(t), "PATH="+links+":"+linkDir(t, "cmdsrv"), "CMDSRV_SOCKNAME="+filepath.Join(testutil.ShortDir(t), "missing", "s"))
	code, out, errs = runCmd(t, c)
	require.Equal(t, 255, code)
	require.Empty(t, out)
	require.Contains(t, errs, "cmdsrv-chg: abort: cmdsrv not found in PATH (besides links to cmdsrv-chg)")
}

// procArgv is the command line of pid.
func procArgv(t *testing.T, pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func TestThinClientNoApplication(t *testing.T) {
	c := exec.Command(thinClient(t), "echo", "hi")
	c.Env = baseEnv(t)
	code, out, errs := runCmd(t, c)
	require.Equal(t, 255, code)
	require.Empty(t, out)
	require.Equal(t, "cmdsrv-chg: abort: no application to serve: set CMDSRV_APP to its binary, or install cmdsrv-chg as a symlink named after it\n", errs)

	// CMDSRV_APP naming the client itself is refused rather than run in a
	// loop (here: when no server can be used and it must run directly).
	c = exec.Command(thinClient(t), "echo", "hi")
	c.Env = append(baseEnv(t), "CMDSRV_APP="+thinClient(t), "CMDSRV_SOCKNAME="+filepath.Join(testutil.ShortDir(t), "missing", "s"))
	code, out, errs = runCmd(t, c)
	require.Equal(t, 255, code)
	require.Empty(t, out)
	require.Contains(t, errs, "is this client itself, not the application")
}

// TestThinClientDirect: a server invocation, and CMDSRV_CLIENT=off, run
// the application directly (no server is started).
func TestThinClientDirect(t *testing.T) {
	bin := testutil.Binary(t)
	dir := testutil.ShortDir(t)
	t.Cleanup(func() { killServers(t, dir) })
	env := append(baseEnv(t), "CMDSRV_APP="+bin, "CMDSRV_SOCKNAME="+filepath.Join(dir, "s"))

	c := exec.Command(thinClient(t), "serve", "--cmdserver", "pipe")
	c.Env = env
	stdout, err := c.StdoutPipe()
	require.NoError(t, err)
	stdin, err := c.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, c.Start())
	hdr := make([]byte, 5)
	_, err = bufio.NewReader(stdout).Read(hdr)
	require.NoError(t, err)
	require.Equal(t, byte('o'), hdr[0], "a pipe server's hello")
	stdin.Close()
	require.NoError(t, c.Wait())

	c = exec.Command(thinClient(t), "env", "CMDSRV_CLIENT")
	c.Env = append(env, "CMDSRV_CLIENT=off")
	code, out, errs := runCmd(t, c)
	require.Equal(t, 0, code, errs)
	require.Equal(t, "off\n", out)
	require.Empty(t, serverPids(dir))

	// A run that falls back to the application directly turns its client
	// mode off even when the caller's environment turns it on (a Go
	// program keeps the first copy of a variable listed twice).
	c = exec.Command(thinClient(t), "env", "CMDSRV_CLIENT")
	c.Env = append(baseEnv(t), "CMDSRV_APP="+bin, "CMDSRV_CLIENT=auto", "CMDSRV_SOCKNAME="+filepath.Join(testutil.ShortDir(t), "missing", "s"))
	code, out, errs = runCmd(t, c)
	require.Equal(t, 0, code, errs)
	require.Equal(t, "off\n", out)
}

// TestThinClientSlowInit: the example whose cost is in package init, called
// through the thin client, is served by a worker of its server.
func TestThinClientSlowInit(t *testing.T) {
	bin := testutil.BuildCommand(t, "./examples/slowinit", "slowinit")
	e := newClientEnv(t, "thin", bin)
	for i := 0; i < 2; i++ {
		c := e.command("pid")
		code, out, errs := runCmd(t, c)
		require.Equal(t, 0, code, errs)
		require.Empty(t, errs)
		f := strings.Fields(out) // pid N, init D
		require.Len(t, f, 4, out)
		pid, err := strconv.Atoi(strings.TrimSuffix(f[1], ","))
		require.NoError(t, err)
		require.NotEqual(t, c.Process.Pid, pid, "run in the client")
	}
	pids := waitServers(t, e.dir, 1)
	require.Equal(t, "slowinit", filepath.Base(procArgv(t, pids[0])[0]), "served by the application's server")

	code, _, errs := e.served("exit", "7")
	require.Equal(t, 7, code, errs)
}
