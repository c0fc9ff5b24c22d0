//go:build unix

package pipe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/clientraw"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// supervisedEnv makes the test binary a supervised pipe server of
// exitCommands: the Supervisor, which starts the same binary again as
// its child (the child serves). supervisedCtorEnv=N makes the child's
// constructor print and exit N.
const (
	supervisedEnv     = "CMDSRV_TEST_PIPE_SUPERVISED"
	supervisedCtorEnv = "CMDSRV_TEST_PIPE_SUPERVISED_CTOR_EXIT"
)

func init() {
	if os.Getenv(supervisedEnv) != "1" {
		return
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	if !IsChild() {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		sup := &Supervisor{
			Command: func() *exec.Cmd { return exec.Command(exe) },
			Session: protocol.SessionOptions{Config: &protocol.Config{}},
			Signals: sigs,
		}
		code, err := sup.Serve(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(code)
	}
	c, err := TakeChild()
	if err != nil || c == nil {
		fmt.Fprintln(os.Stderr, "not a child:", err)
		os.Exit(2)
	}
	release, err := c.CaptureStartup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if code := os.Getenv(supervisedCtorEnv); code != "" {
		n, _ := strconv.Atoi(code)
		fmt.Println("constructor output")
		fmt.Fprintln(os.Stderr, "constructor failing")
		os.Exit(n)
	}
	release()
	in, out, err := ProtectStdio()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	srv := &Server{Handler: exitCommands{}, Stderr: os.Stderr, Signals: sigs, Child: c,
		Session: protocol.SessionOptions{Config: &protocol.Config{}}}
	os.Exit(statusOf(srv.Serve(context.Background(), in, out)))
}

func statusOf(err error) int {
	if err != nil {
		return 255
	}
	return 0
}

// exitCommands are commands written as a plain program's, which end the
// process.
type exitCommands struct{}

// ClientProcessFor lends the process to every command but askexit, which
// reads the 'I' channel through its request.
func (exitCommands) ClientProcessFor(args []string) bool {
	return len(args) == 0 || args[0] != "askexit"
}

func (exitCommands) ServeCommand(ctx context.Context, req *protocol.Request) int {
	switch req.Args[0] {
	case "pid":
		fmt.Println(os.Getpid())
	case "echo":
		fmt.Println(strings.Join(req.Args[1:], " "))
	case "exit":
		n, _ := strconv.Atoi(req.Args[1])
		fmt.Println("leaving with", n)
		fmt.Fprintln(os.Stderr, "on stderr")
		os.Exit(n)
	case "fatal":
		fmt.Println("about to fail")
		log.SetFlags(0)
		log.Fatal("something went wrong")
	case "big": // more than the relay's pipes and buffers hold
		os.Stdout.Write(bytes.Repeat([]byte("0123456789abcdef"), 1<<16))
		os.Exit(7)
	case "askexit": // dies waiting for the client's answer to 'I'
		go func() {
			b := make([]byte, 100)
			_, _ = req.Stdin.Read(b)
		}()
		time.Sleep(100 * time.Millisecond)
		os.Exit(4)
	}
	return 0
}

func startSupervised(t *testing.T, env ...string) (*client.Client, *testutil.SyncBuffer) {
	t.Helper()
	return startHelper(t, "", append([]string{supervisedEnv + "=1"}, env...))
}

// runSupervised runs args; slowInput, if set, answers 'I' after a while.
func runSupervised(t *testing.T, c *client.Client, slowInput bool, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	opts := &client.RunOptions{Stdout: &out, Stderr: &errb}
	if slowInput {
		opts.Input = func(size int) ([]byte, error) {
			time.Sleep(300 * time.Millisecond) // the command is gone by then
			return []byte("late answer")[:min(size, 11)], nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, err := c.RunCommand(ctx, args, opts)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// exitStatus closes the session and returns the server's exit status.
func exitStatus(t *testing.T, c *client.Client) int {
	t.Helper()
	code := testutil.ExitCode(c.Close())
	if code < 0 {
		t.Fatal("waiting for the server failed")
	}
	return code
}

// TestSupervisedExitMidCommand: os.Exit(3) in a command, after it wrote
// on fds 1 and 2: the client gets all of it and 3 as the result, and the
// session goes on in a new child, whose hello the client never sees (the
// hello names the supervisor).
func TestSupervisedExitMidCommand(t *testing.T) {
	c, serverErr := startSupervised(t)
	if c.Hello.PID != c.Process().Pid {
		t.Fatalf("hello pid %d, want the supervisor's %d", c.Hello.PID, c.Process().Pid)
	}
	_, first, _ := runSupervised(t, c, false, "pid")
	code, out, eout := runSupervised(t, c, false, "exit", "3")
	if code != 3 || out != "leaving with 3\n" || eout != "on stderr\n" {
		t.Fatalf("exit 3: %d %q %q (server stderr %q)", code, out, eout, serverErr.String())
	}
	code, out, _ = runSupervised(t, c, false, "echo", "after", "exit")
	if code != 0 || out != "after exit\n" {
		t.Fatalf("next command: %d %q", code, out)
	}
	_, second, _ := runSupervised(t, c, false, "pid")
	if first == second || first == fmt.Sprintln(c.Process().Pid) {
		t.Fatalf("commands ran in %q before the exit and %q after: want two children", first, second)
	}
	if code := exitStatus(t, c); code != 0 {
		t.Fatalf("clean end: exit %d (stderr %q)", code, serverErr.String())
	}
}

// TestSupervisedLogFatal: log.Fatal's message and status 1, as a plain
// run gives them; then the session goes on.
func TestSupervisedLogFatal(t *testing.T) {
	c, _ := startSupervised(t)
	code, out, eout := runSupervised(t, c, false, "fatal")
	if code != 1 || out != "about to fail\n" || eout != "something went wrong\n" {
		t.Fatalf("fatal: %d %q %q", code, out, eout)
	}
	if code, out, _ := runSupervised(t, c, false, "echo", "ok"); code != 0 || out != "ok\n" {
		t.Fatalf("after fatal: %d %q", code, out)
	}
}

// TestSupervisedExitAfterBigOutput: 1 MiB written, then os.Exit: every
// byte reaches the client, in order, before the result.
func TestSupervisedExitAfterBigOutput(t *testing.T) {
	c, serverErr := startSupervised(t)
	code, out, _ := runSupervised(t, c, false, "big")
	want := strings.Repeat("0123456789abcdef", 1<<16)
	if code != 7 || out != want {
		t.Fatalf("big: %d, %d bytes (equal: %v) (server stderr %q)", code, len(out), out == want, serverErr.String())
	}
	if code, out, _ := runSupervised(t, c, false, "echo", "ok"); code != 0 || out != "ok\n" {
		t.Fatalf("after big: %d %q", code, out)
	}
}

// TestSupervisedExitAwaitingInput: a command that dies with an 'I'
// request unanswered: the supervisor takes the client's late answer off
// the pipe, so the next request is read where it starts.
func TestSupervisedExitAwaitingInput(t *testing.T) {
	c, _ := startSupervised(t)
	if code, _, _ := runSupervised(t, c, true, "askexit"); code != 4 {
		t.Fatalf("askexit: %d, want 4", code)
	}
	if code, out, _ := runSupervised(t, c, false, "echo", "ok"); code != 0 || out != "ok\n" {
		t.Fatalf("after askexit: %d %q", code, out)
	}
}

// TestSupervisedConstructorExit: a constructor that exits: the supervisor
// sends the hello and answers every command as a plain run would end,
// with the start-up's output and its status.
func TestSupervisedConstructorExit(t *testing.T) {
	c, _ := startSupervised(t, supervisedCtorEnv+"=5")
	if c.Hello.PID != c.Process().Pid || !c.Hello.Has("runcommand") {
		t.Fatalf("hello %+v", c.Hello)
	}
	for range 2 {
		code, out, eout := runSupervised(t, c, false, "echo", "never")
		if code != 5 || out != "constructor output\n" || eout != "constructor failing\n" {
			t.Fatalf("command after a constructor exit: %d %q %q", code, out, eout)
		}
	}
	if code := exitStatus(t, c); code != 0 {
		t.Fatalf("clean end: exit %d", code)
	}
}

// TestSupervisedCleanEndAndSignal: a session ended by the client ends the
// server with status 0, its child gone; SIGTERM to the supervisor between
// commands reaches the child, which ends the server as before ("killed!",
// 255).
func TestSupervisedCleanEndAndSignal(t *testing.T) {
	c, serverErr := startSupervised(t)
	_, pid, _ := runSupervised(t, c, false, "pid")
	child, err := strconv.Atoi(strings.TrimSpace(pid))
	if err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, c); code != 0 {
		t.Fatalf("clean end: exit %d (stderr %q)", code, serverErr.String())
	}
	if testutil.Alive(child) {
		t.Fatalf("child %d still running after the session ended", child)
	}

	c, serverErr = startSupervised(t)
	if code, _, _ := runSupervised(t, c, false, "echo"); code != 0 {
		t.Fatal("echo failed")
	}
	if err := c.Process().Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ch, p, _, err := clientraw.ReadFrame(c); err != io.EOF {
		t.Fatalf("after SIGTERM: frame %q %q, err %v; want end of output", ch, p, err)
	}
	if code := exitStatus(t, c); code != 255 || serverErr.String() != "killed!\n" {
		t.Fatalf("SIGTERM: exit %d, stderr %q; want 255 and killed!", code, serverErr.String())
	}
}
