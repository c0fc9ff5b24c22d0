//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/clientraw"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// server is a `cmdsrv serve --cmdserver pipe` child with its stderr kept.
type server struct {
	*client.Client
	stderr *testutil.SyncBuffer
}

func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(testutil.Binary(t), append([]string{"serve", "--cmdserver", "pipe"}, args...)...)
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	c, err := client.StartCommand(cmd)
	if err != nil {
		t.Fatalf("starting server: %v (stderr %q)", err, stderr.String())
	}
	t.Cleanup(func() { _ = c.Close() })
	return &server{Client: c, stderr: stderr}
}

// exitCode closes the session and returns the server's exit status.
func (s *server) exitCode(t *testing.T) int {
	t.Helper()
	err := s.Close()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("waiting for the server: %v", err)
	return -1
}

func (s *server) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.Process().Signal(sig); err != nil {
		t.Fatalf("sending %v: %v", sig, err)
	}
}

func TestPipeHelloPID(t *testing.T) {
	s := startServer(t)
	h := s.Hello
	if h.PID != s.Process().Pid {
		t.Fatalf("hello pid %d, server pid %d", h.PID, s.Process().Pid)
	}
	if h.PGID != syscall.Getpgrp() {
		t.Fatalf("hello pgid %d, want the inherited group %d", h.PGID, syscall.Getpgrp())
	}
	if !h.Has("runcommand") || !h.Has("getencoding") || h.Encoding != "UTF-8" {
		t.Fatalf("hello %+v", h)
	}
	if code := s.exitCode(t); code != 0 {
		t.Fatalf("closing stdin: exit %d, want 0 (stderr %q)", code, s.stderr.String())
	}
}

func TestPipeCatBinaryRoundTrip(t *testing.T) {
	data := make([]byte, 300<<10)
	rand.New(rand.NewSource(1)).Read(data)
	copy(data[1000:], "\x00\n\x00\n\n\r\n")
	s := startServer(t)
	in := bytes.NewReader(data)
	var out, errb bytes.Buffer
	code, err := s.RunCommand(context.Background(), []string{"cat"}, &client.RunOptions{
		Stdout: &out, Stderr: &errb,
		Input: func(size int) ([]byte, error) {
			b := make([]byte, min(size, in.Len()))
			n, _ := in.Read(b)
			return b[:n], nil
		},
	})
	if err != nil || code != 0 {
		t.Fatalf("cat: %d, %v (stderr %q)", code, err, errb.String())
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("cat returned %d bytes, want %d identical ones", out.Len(), len(data))
	}
	if c, o, _ := testutil.Run(t, s.Client, "echo", "still", "framed"); c != 0 || o != "still framed\n" {
		t.Fatalf("after cat: %d %q", c, o)
	}
}

func TestPipeProtectsStdio(t *testing.T) {
	s := startServer(t)
	code, out, _ := testutil.Run(t, s.Client, "debugwritestdout")
	if code != 0 || out != "debugwritestdout: done\n" {
		t.Fatalf("debugwritestdout: %d %q", code, out)
	}
	code, out, _ = testutil.Run(t, s.Client, "debugreadstdin")
	if code != 0 || out != "read: 0 bytes\n" {
		t.Fatalf("debugreadstdin: %d %q", code, out)
	}
	if code, out, _ := testutil.Run(t, s.Client, "echo", "ok"); code != 0 || out != "ok\n" {
		t.Fatalf("echo after: %d %q", code, out)
	}
	if code := s.exitCode(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"debugwritestdout: fd 1\n", "debugwritestdout: os.Stdout\n"} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Fatalf("server stderr %q lacks %q", s.stderr.String(), want)
		}
	}
}

// TestPipeInterruptCommand: SIGINT during a command interrupts it and the
// session goes on. The server ignores SIGINT between requests here, so the
// test can send it until the command has seen one, without a race against
// the command's start.
func TestPipeInterruptCommand(t *testing.T) {
	for _, args := range [][]string{
		{"sleep", "5"},
		{"system", "sleep 5"},          // the shell is stopped, the session is not held up
		{"system", "sleep 5 | cat; :"}, // even with children holding the pipes
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			s := startServer(t, "--config", "cmdserver.shutdown-on-interrupt=false")
			code, eout, err := interruptUntilDone(t, s, args...)
			if err != nil || code != 255 || eout != "interrupted!\n" {
				t.Fatalf("%q: code %d, err %v, 'e' %q, want 255 and interrupted!", args, code, err, eout)
			}
			if code, out, _ := testutil.Run(t, s.Client, "echo", "next"); code != 0 || out != "next\n" {
				t.Fatalf("after the interrupt: %d %q", code, out)
			}
			if code := s.exitCode(t); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// interruptUntilDone runs args and sends SIGINT to the server every 20 ms
// until the command returns.
func interruptUntilDone(t *testing.T, s *server, args ...string) (int, string, error) {
	t.Helper()
	type outcome struct {
		code int
		err  error
		eout string
	}
	done := make(chan outcome, 1)
	go func() {
		var errb strings.Builder
		code, err := s.RunCommand(context.Background(), args, &client.RunOptions{Stderr: &errb})
		done <- outcome{code, err, errb.String()}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			return res.code, res.eout, res.err
		case <-tick.C:
			s.signal(t, syscall.SIGINT)
		}
	}
}

// TestPipeSystemBackground: a child the shell leaves running with the
// output pipe open does not hold the session until it exits (testutil.Run
// gives up after 30 s).
func TestPipeSystemBackground(t *testing.T) {
	s := startServer(t)
	code, out, _ := testutil.Run(t, s.Client, "system", "sleep 40 & echo started")
	if code != 0 || out != "started\n" {
		t.Fatalf("system: %d %q", code, out)
	}
}

func TestPipeSignalsBetweenRequests(t *testing.T) {
	tests := []struct {
		name string
		args []string
		sig  syscall.Signal
		code int
		word string
	}{
		{name: "SIGINT", sig: syscall.SIGINT, code: 255, word: "interrupted!\n"},
		{name: "SIGTERM", sig: syscall.SIGTERM, code: 255, word: "killed!\n"},
		{name: "SIGHUP", sig: syscall.SIGHUP, code: 255, word: "killed!\n"},
		{name: "SIGTERM with shutdown-on-interrupt off", args: []string{"--config", "cmdserver.shutdown-on-interrupt=false"}, sig: syscall.SIGTERM, code: 255, word: "killed!\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.args...)
			if code, _, _ := testutil.Run(t, s.Client, "true"); code != 0 {
				t.Fatal("true failed")
			}
			s.signal(t, tt.sig)
			// The server ends on its own, its input still open: its
			// stdout reaches end of file.
			if ch, p, _, err := clientraw.ReadFrame(s.Client); err != io.EOF {
				t.Fatalf("after %v: frame %q %q, err %v; want end of output", tt.sig, ch, p, err)
			}
			if code := s.exitCode(t); code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, s.stderr.String())
			}
			if got := s.stderr.String(); got != tt.word {
				t.Fatalf("stderr %q, want %q", got, tt.word)
			}
		})
	}
	t.Run("SIGINT ignored with shutdown-on-interrupt off", func(t *testing.T) {
		s := startServer(t, "--config", "cmdserver.shutdown-on-interrupt=false")
		s.signal(t, syscall.SIGINT)
		// Give the signal time to arrive while the server is idle; if it
		// came late it would only interrupt echo, which ignores it.
		time.Sleep(100 * time.Millisecond)
		if code, out, _ := testutil.Run(t, s.Client, "echo", "alive"); code != 0 || out != "alive\n" {
			t.Fatalf("after SIGINT: %d %q", code, out)
		}
		if code := s.exitCode(t); code != 0 || s.stderr.String() != "" {
			t.Fatalf("exit %d, stderr %q", code, s.stderr.String())
		}
	})
}

func TestPipeMalformedInput(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		code   int
		stderr string
	}{
		{name: "unknown command", raw: "frobnicate\n", code: 255, stderr: "abort: unknown command frobnicate\n"},
		{name: "partial length", raw: "runcommand\n\x00\x00", code: 1, stderr: "unexpected end of input in the middle of a request"},
		{name: "short block", raw: "runcommand\n\x00\x00\x00\x09exit\x005", code: 1, stderr: "block of 9 bytes ended early"},
		{name: "name without newline", raw: "runcommand", code: 1, stderr: "without newline"},
		{name: "empty line", raw: "\nrunning on", code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			if err := clientraw.Send(s.Client, []byte(tt.raw)); err != nil {
				t.Fatal(err)
			}
			if code := s.exitCode(t); code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, s.stderr.String())
			}
			if !strings.Contains(s.stderr.String(), tt.stderr) {
				t.Fatalf("stderr %q lacks %q", s.stderr.String(), tt.stderr)
			}
		})
	}
}

func TestPipeSystem(t *testing.T) {
	s := startServer(t)
	code, out, _ := testutil.Run(t, s.Client, "system", "echo from sh; exit 7")
	if code != 7 || out != "from sh\n" {
		t.Fatalf("system: %d %q, want 7 and its output on 'o'", code, out)
	}
	code, _, eout := testutil.Run(t, s.Client, "system", "echo to stderr >&2")
	if code != 0 || eout != "to stderr\n" {
		t.Fatalf("system stderr: %d %q", code, eout)
	}
}

func TestPipeRepositoryOption(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "-R", dir)
	if code, out, _ := testutil.Run(t, s.Client, "pwd"); code != 0 || out != dir+"\n" {
		t.Fatalf("pwd: %d %q, want %q", code, out, dir)
	}
	other := t.TempDir()
	if code, out, _ := testutil.Run(t, s.Client, "--cwd", other, "pwd"); code != 0 || out != other+"\n" {
		t.Fatalf("--cwd pwd: %d %q", code, out)
	}
	if code, out, _ := testutil.Run(t, s.Client, "pwd"); code != 0 || out != dir+"\n" {
		t.Fatalf("--cwd stuck: %q", out)
	}
}

// TestPipeNestedServe: `serve --cmdserver pipe` as a command runs a second
// session over the first one's channels.
func TestPipeNestedServe(t *testing.T) {
	s := startServer(t)
	script := bytes.NewReader(append(
		wire.AppendBlock([]byte("runcommand\n"), []byte("echo\x00inner")),
		wire.AppendBlock([]byte("runcommand\n"), []byte("exit\x0042"))...))
	var out, errb bytes.Buffer
	code, err := s.RunCommand(context.Background(), []string{"serve", "--cmdserver", "pipe"}, &client.RunOptions{
		Stdout: &out, Stderr: &errb,
		Input: func(size int) ([]byte, error) {
			b := make([]byte, min(size, script.Len()))
			n, _ := script.Read(b)
			return b[:n], nil
		},
	})
	if err != nil || code != 0 {
		t.Fatalf("nested serve: %d %v (stderr %q)", code, err, errb.String())
	}
	inner, err := client.New(&out, io.Discard)
	if err != nil {
		t.Fatalf("inner hello: %v (output %q)", err, out.String())
	}
	if inner.Hello.PID != s.Hello.PID {
		t.Fatalf("inner hello pid %d, want %d", inner.Hello.PID, s.Hello.PID)
	}
	var frames []string
	for {
		ch, payload, _, err := clientraw.ReadFrame(inner)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, string(ch)+":"+string(payload))
	}
	want := []string{"o:inner\n", "r:\x00\x00\x00\x00", "r:\x00\x00\x00\x2a"}
	if strings.Join(frames, "|") != strings.Join(want, "|") {
		t.Fatalf("inner frames %q, want %q", frames, want)
	}
	if code, out, _ := testutil.Run(t, s.Client, "echo", "outer"); code != 0 || out != "outer\n" {
		t.Fatalf("outer after nested: %d %q", code, out)
	}
}

// TestPipeClientGoneCancelsCommand: when the client closes its end of the
// server's output, a running command is cancelled and the server ends,
// instead of sleeping on for a minute.
func TestPipeClientGoneCancelsCommand(t *testing.T) {
	cmd := exec.Command(testutil.Binary(t), "serve", "--cmdserver", "pipe")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := wire.ReadFrame(stdout, 0); err != nil {
		t.Fatalf("hello: %v", err)
	}
	if _, err := stdin.Write(wire.AppendBlock([]byte("runcommand\n"), []byte("sleep\x0060"))); err != nil {
		t.Fatal(err)
	}
	stdout.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("server exited 0 after losing its client (stderr %q)", stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("server still running its command 30 s after the client left (stderr %q)", stderr.String())
	}
}
