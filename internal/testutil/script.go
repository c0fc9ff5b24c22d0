//go:build unix

package testutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cmdsrv/cmdsrv/client"
)

// ScriptCmds are the testscript commands that speak the protocol:
//
//	pipe [-term] CMDFILE PROGRAM ARGS...
//	    start PROGRAM ARGS as a pipe server the way a client library does,
//	    run each line of CMDFILE (words split on blanks) as a runcommand,
//	    printing its 'o' output to stdout, its 'e' output to stderr and
//	    "[r N]" to stdout; then close its stdin, or with -term send it
//	    SIGTERM between requests, and print "exit N" and the server's own
//	    stderr.
//	hgrun SOCKET ARGS...
//	    one runcommand on the unix socket: 'o' to stdout, 'e' to stderr,
//	    then "[r N]".
//	waitsock SOCKET
//	    wait (up to a minute) until SOCKET accepts connections.
//	stoppid PIDFILE
//	    send SIGTERM to the pid in PIDFILE (a daemon) and wait (up to a
//	    minute) until it is gone.
func ScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"pipe":     scriptPipe,
		"hgrun":    scriptHgrun,
		"waitsock": scriptWaitsock,
		"stoppid":  scriptStoppid,
	}
}

func scriptPipe(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! pipe")
	}
	term := false
	if len(args) > 0 && args[0] == "-term" {
		term, args = true, args[1:]
	}
	if len(args) < 2 {
		ts.Fatalf("usage: pipe [-term] CMDFILE PROGRAM ARGS...")
	}
	lines := strings.Split(strings.TrimSpace(ts.ReadFile(args[0])), "\n")
	prog, err := exec.LookPath(args[1])
	if err != nil {
		// testscript's own PATH, not this process's.
		prog = lookPathIn(ts.Getenv("PATH"), args[1])
	}
	cmd := exec.Command(prog, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = scriptEnv(ts)
	stderr := &SyncBuffer{}
	cmd.Stderr = stderr
	c, err := client.StartCommand(cmd)
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, line := range lines {
		var out, errb strings.Builder
		code, err := c.RunCommand(ctx, strings.Fields(line), &client.RunOptions{Stdout: &out, Stderr: &errb})
		if err != nil {
			_ = cmd.Process.Kill()
			ts.Fatalf("runcommand %q: %v (server stderr %q)", line, err, stderr.String())
		}
		fmt.Fprint(ts.Stdout(), out.String())
		fmt.Fprint(ts.Stderr(), errb.String())
		fmt.Fprintf(ts.Stdout(), "[r %d]\n", code)
	}
	if term {
		ts.Check(cmd.Process.Signal(syscall.SIGTERM))
		werr := cmd.Wait()
		fmt.Fprintf(ts.Stdout(), "exit %d\n", ExitCode(werr))
	} else {
		werr := c.Close()
		fmt.Fprintf(ts.Stdout(), "exit %d\n", ExitCode(werr))
	}
	fmt.Fprint(ts.Stderr(), stderr.String())
}

// ExitCode is the exit status an exec.Cmd's Wait error says (0 for nil,
// -1 for an error that is no exit).
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func lookPathIn(path, name string) string {
	for _, dir := range strings.Split(path, string(os.PathListSeparator)) {
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return name
}

// scriptEnv is the script's environment, for the processes a command
// starts itself.
func scriptEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, name := range []string{"PATH", "HOME", "TMPDIR", "WORK", "XDG_RUNTIME_DIR", "GORACE"} {
		if v := ts.Getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

func scriptHgrun(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: hgrun SOCKET ARGS...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, ts.MkAbs(args[0]))
	ts.Check(err)
	defer c.Close()
	var out, errb strings.Builder
	code, err := c.RunCommand(ctx, args[1:], &client.RunOptions{Stdout: &out, Stderr: &errb})
	ts.Check(err)
	fmt.Fprint(ts.Stdout(), out.String())
	fmt.Fprint(ts.Stderr(), errb.String())
	fmt.Fprintf(ts.Stdout(), "[r %d]\n", code)
	if neg != (code != 0) {
		ts.Fatalf("hgrun: status %d", code)
	}
}

func scriptWaitsock(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitsock SOCKET")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			// Read the hello so that the server is not left with a
			// half-open client.
			_, _ = bufio.NewReader(c).Peek(1)
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s never accepted a connection: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func scriptStoppid(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: stoppid PIDFILE")
	}
	var pid int
	if _, err := fmt.Sscan(ts.ReadFile(args[0]), &pid); err != nil || pid <= 0 {
		ts.Fatalf("no pid in %s: %v", args[0], err)
	}
	ts.Check(syscall.Kill(pid, syscall.SIGTERM))
	deadline := time.Now().Add(time.Minute)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			ts.Fatalf("pid %d still running a minute after SIGTERM", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
