//go:build unix

package pipe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// plainHelperEnv makes the test binary a pipe server (stdio protected, as
// cmdsrv's pipe mode) of plainCommands, a Handler written as a plain
// program that asks for the client's process state.
const plainHelperEnv = "CMDSRV_TEST_PIPE_PLAIN"

func init() {
	if os.Getenv(plainHelperEnv) != "1" {
		return
	}
	in, out, err := ProtectStdio()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var h protocol.Handler = plainCommands{}
	if os.Getenv(plainHelperEnv+"_OFF") == "1" {
		h = protocol.HandlerFunc(plainCommands{}.ServeCommand) // no ClientProcess
	}
	srv := &Server{Handler: h, Stderr: os.Stderr, Session: protocol.SessionOptions{GlobalOptions: true}}
	err = srv.Serve(context.Background(), in, out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

type plainCommands struct{}

func (plainCommands) ClientProcess() bool { return true }

// ServeCommand uses nothing of req but its result: what it prints, reads
// and looks up is the process's, as in a plain program.
func (plainCommands) ServeCommand(ctx context.Context, req *protocol.Request) int {
	name := req.Args[0] // not lent (the benchmark's comparison): os.Args is the server's
	if req.ClientProcess {
		name = os.Args[1]
	}
	switch name {
	case "state":
		wd, _ := os.Getwd()
		fmt.Println("args", strings.Join(os.Args[1:], " "))
		fmt.Fprintln(os.Stderr, "to stderr")
		fmt.Println("dir", wd)
		fmt.Println("FOO", os.Getenv("FOO"))
		fmt.Fprintln(req.Stdout, "through the request, after the rest")
	case "cat":
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "child": // a child process with the command's stdio
		cmd := exec.Command("sh", "-c", `echo child out; echo child err >&2; read line; echo "read $line"`)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "big":
		os.Stdout.Write(bytes.Repeat([]byte("0123456789abcdef"), 1<<16)) // 1 MiB
	case "mess": // changes the process state; the next command must not see it
		os.Setenv("FOO", "changed")
		os.Chdir("/")
	case "quiet":
		fmt.Println("no input read")
	case "askafter": // stdin, then a prompt: 'I' and 'L' must not overlap
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		ans, err := req.UI.Prompt("name?", "nobody")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("read %q, answered %q\n", line, ans)
	}
	return 0
}

func startPlain(t testing.TB, dir string, env ...string) (*client.Client, *testutil.SyncBuffer) {
	t.Helper()
	return startHelper(t, dir, append([]string{plainHelperEnv + "=1"}, env...))
}

// startHelper starts the test binary, in the role env gives it, as a
// client's pipe server in dir.
func startHelper(t testing.TB, dir string, env []string) (*client.Client, *testutil.SyncBuffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
	serverErr := &testutil.SyncBuffer{}
	cmd.Stderr = serverErr
	c, err := client.StartCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, serverErr
}

type inputLog struct {
	data  []byte
	asked int
}

func (l *inputLog) answer(size int) ([]byte, error) {
	l.asked++
	n := min(size, len(l.data))
	b := l.data[:n]
	l.data = l.data[n:]
	return b, nil
}

func runPlain(t *testing.T, c *client.Client, in *inputLog, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	opts := &client.RunOptions{Stdout: &out, Stderr: &errb}
	if in != nil {
		opts.Input = in.answer
	}
	code, err := c.RunCommand(context.Background(), args, opts)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// TestClientProcessInPipeMode: a Handler that asks for the client's
// process state writes to fd 1 and 2, reads fd 0, and finds the session's
// directory, environment and arguments in the process, in a real pipe
// server; its output reaches the client complete, on the right channel,
// and the server's own descriptors are back after each command.
func TestClientProcessInPipeMode(t *testing.T) {
	dir := t.TempDir()
	c, serverErr := startPlain(t, dir, "FOO=from-the-server-start")

	code, out, errs := runPlain(t, c, nil, "state", "a b", "c")
	want := "args state a b c\ndir " + dir + "\nFOO from-the-server-start\nthrough the request, after the rest\n"
	if code != 0 || out != want || errs != "to stderr\n" {
		t.Fatalf("state: %d\nout %q\nwant %q\nerr %q", code, out, want, errs)
	}

	// --cwd changes the request's directory, and so the process's.
	if err := os.Mkdir(dir+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runPlain(t, c, nil, "--cwd", "sub", "state")
	if sub := "dir " + dir + "/sub\n"; code != 0 || !strings.Contains(out, sub) {
		t.Fatalf("state in sub: %d %q, want %q", code, out, sub)
	}
	// What a command changes is put back after it.
	runPlain(t, c, nil, "mess")
	if code, out, _ = runPlain(t, c, nil, "state", "a b", "c"); code != 0 || out != want {
		t.Fatalf("state after mess: %d\nout %q\nwant %q", code, out, want)
	}

	in := &inputLog{}
	if code, out, _ := runPlain(t, c, in, "quiet"); code != 0 || out != "no input read\n" || in.asked != 0 {
		t.Fatalf("quiet: %d %q, asked for input %d times (want none)", code, out, in.asked)
	}

	data := strings.Repeat("some input\n", 30000) // more than a pipe holds
	in = &inputLog{data: []byte(data)}
	if code, out, errs := runPlain(t, c, in, "cat"); code != 0 || out != data {
		t.Fatalf("cat: %d, %d bytes of %d, err %q", code, len(out), len(data), errs)
	}
	if code, out, _ := runPlain(t, c, nil, "cat"); code != 0 || out != "" {
		t.Fatalf("cat without input: %d %q", code, out)
	}

	in = &inputLog{data: []byte("a line\n")}
	code, out, errs = runPlain(t, c, in, "child")
	if code != 0 || out != "child out\nread a line\n" || errs != "child err\n" {
		t.Fatalf("child: %d %q %q", code, out, errs)
	}

	in = &inputLog{data: []byte("first\nsecond\n")}
	var out2, errb2 strings.Builder
	code, err := c.RunCommand(context.Background(), []string{"--config", "ui.interactive=true", "askafter"}, &client.RunOptions{
		Stdout: &out2, Stderr: &errb2, Input: in.answer,
		Line: func(int) ([]byte, error) { return []byte("bob\n"), nil },
	})
	if err != nil || code != 0 || out2.String() != "name? read \"first\\n\", answered \"bob\"\n" || in.asked != 1 {
		t.Fatalf("askafter: %d %v %q %q, input asked %d times (want 1)", code, err, out2.String(), errb2.String(), in.asked)
	}

	if code, out, _ := runPlain(t, c, nil, "big"); code != 0 || out != strings.Repeat("0123456789abcdef", 1<<16) {
		t.Fatalf("big: %d, %d bytes", code, len(out))
	}
	if s := serverErr.String(); s != "" {
		t.Fatalf("the server's stderr got %q", s)
	}
}

// BenchmarkClientProcess is what lending the process costs a short
// command in a pipe server ("hello" through fmt.Println), against the
// same command not lent (its output then goes to the server's stderr).
func BenchmarkClientProcess(b *testing.B) {
	for _, lent := range []bool{true, false} {
		name := "lent"
		var env []string
		if !lent {
			name, env = "not-lent", []string{plainHelperEnv + "_OFF=1"}
		}
		b.Run(name, func(b *testing.B) {
			c, _ := startPlain(b, b.TempDir(), env...)
			for b.Loop() {
				if code, err := c.RunCommand(context.Background(), []string{"quiet"}, &client.RunOptions{}); err != nil || code != 0 {
					b.Fatalf("quiet: %d %v", code, err)
				}
			}
		})
	}
}
