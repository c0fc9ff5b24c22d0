package pipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// fixture runs a Server in-process over two os pipes; signals are
// delivered through the Signals channel, as cmd/cmdsrv does.
type fixture struct {
	c       *client.Client
	sigs    chan os.Signal
	stderr  *testutil.SyncBuffer
	started chan struct{} // a "block" command has started
	done    chan error    // Serve's result
	inR     *os.File
}

func start(t *testing.T, cfg ...string) *fixture {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sigs: make(chan os.Signal, 1), stderr: &testutil.SyncBuffer{}, started: make(chan struct{}, 1), done: make(chan error, 1), inR: inR}
	conf := &protocol.Config{}
	if err := conf.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	h := protocol.HandlerFunc(func(ctx context.Context, req *protocol.Request) int {
		switch req.Args[0] {
		case "block": // until interrupted
			f.started <- struct{}{}
			<-ctx.Done()
			fmt.Fprintln(req.Stdout, context.Cause(ctx))
			fmt.Fprintln(req.Stderr, "interrupted!")
			return 255
		case "echo":
			fmt.Fprintln(req.Stdout, strings.Join(req.Args[1:], " "))
		case "mode":
			fmt.Fprintln(req.Stdout, req.Mode)
		}
		return 0
	})
	srv := &Server{Handler: h, Session: protocol.SessionOptions{Config: conf, Dir: t.TempDir()}, Stderr: f.stderr, Signals: f.sigs}
	go func() {
		err := srv.Serve(context.Background(), inR, outW)
		outW.Close()
		f.done <- err
	}()
	c, err := client.New(outR, inW)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	t.Cleanup(func() {
		_ = c.Close()
		inR.Close()
		outR.Close()
	})
	return f
}

func (f *fixture) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func run(t *testing.T, c *client.Client, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	code, err := c.RunCommand(context.Background(), args, &client.RunOptions{Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func TestSignalDuringCommandInterruptsIt(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			f := start(t)
			type res struct {
				code      int
				out, eout string
			}
			got := make(chan res, 1)
			go func() {
				code, out, eout := run(t, f.c, "block")
				got <- res{code, out, eout}
			}()
			<-f.started
			f.sigs <- sig
			r := <-got
			if r.code != 255 || r.eout != "interrupted!\n" {
				t.Fatalf("block: %d %q", r.code, r.eout)
			}
			// The command can tell which signal it was.
			if want := (&protocol.SignalError{Signal: sig}).Error() + "\n"; r.out != want {
				t.Fatalf("block: cause %q, want %q", r.out, want)
			}
			if code, out, _ := run(t, f.c, "echo", "next"); code != 0 || out != "next\n" {
				t.Fatalf("after: %d %q", code, out)
			}
			if f.stderr.String() != "" {
				t.Fatalf("server stderr %q", f.stderr.String())
			}
			_ = f.c.Close()
			if err := f.wait(t); err != nil {
				t.Fatalf("Serve: %v", err)
			}
		})
	}
}

// TestRequestKnowsItsMode: a pipe server's requests say so.
func TestRequestKnowsItsMode(t *testing.T) {
	f := start(t)
	if code, out, _ := run(t, f.c, "mode"); code != 0 || out != "pipe\n" {
		t.Fatalf("mode: %d %q", code, out)
	}
	_ = f.c.Close()
	if err := f.wait(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestSignalBetweenRequests(t *testing.T) {
	tests := []struct {
		name string
		cfg  []string
		sig  os.Signal
		word string // "" when the server goes on
	}{
		{"SIGINT ends", nil, os.Interrupt, "interrupted!\n"},
		{"SIGTERM ends", nil, syscall.SIGTERM, "killed!\n"},
		{"SIGHUP ends", nil, syscall.SIGHUP, "killed!\n"},
		{"SIGINT ignored", []string{"cmdserver.shutdown-on-interrupt=false"}, os.Interrupt, ""},
		{"SIGTERM ends despite shutdown-on-interrupt off", []string{"cmdserver.shutdown-on-interrupt=no"}, syscall.SIGTERM, "killed!\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, tt.cfg...)
			if code, _, _ := run(t, f.c, "echo", "first"); code != 0 {
				t.Fatal("echo failed")
			}
			f.sigs <- tt.sig
			if tt.word == "" {
				f.sigs <- tt.sig // the channel holds one: the first was taken
				if code, out, _ := run(t, f.c, "echo", "alive"); code != 0 || out != "alive\n" {
					t.Fatalf("after %v: %d %q", tt.sig, code, out)
				}
				_ = f.c.Close()
				if err := f.wait(t); err != nil || f.stderr.String() != "" {
					t.Fatalf("Serve: %v, stderr %q", err, f.stderr.String())
				}
				return
			}
			err := f.wait(t)
			if !errors.Is(err, ErrInterrupted) || session.ServeStatus(err) != 255 {
				t.Fatalf("Serve: %v (status %d), want ErrInterrupted, 255", err, session.ServeStatus(err))
			}
			if f.stderr.String() != tt.word {
				t.Fatalf("stderr %q, want %q", f.stderr.String(), tt.word)
			}
		})
	}
}

func TestBadShutdownConfig(t *testing.T) {
	conf := &protocol.Config{}
	conf.Set("cmdserver.shutdown-on-interrupt", "maybe")
	srv := &Server{Handler: protocol.HandlerFunc(func(context.Context, *protocol.Request) int { return 0 }), Session: protocol.SessionOptions{Config: conf, Dir: "/"}, Stderr: io.Discard, Signals: make(chan os.Signal)}
	err := srv.Serve(context.Background(), strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is not a boolean") {
		t.Fatalf("Serve: %v", err)
	}
}

// TestMain fails the package when a test leaves a goroutine behind (a
// session still reading after Serve returned, say).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestHangupIsTheCause: a client that goes away mid-command (its end of
// the output pipe closed) cancels the command with protocol.ErrHangup as
// its cause.
func TestHangupIsTheCause(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows pipes give no hang-up event (no POLLHUP): a client gone mid-command is seen at the next write")
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	started, causes := make(chan struct{}), make(chan error, 1)
	h := protocol.HandlerFunc(func(ctx context.Context, req *protocol.Request) int {
		close(started)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return 255
	})
	srv := &Server{Handler: h, Stderr: io.Discard, Session: protocol.SessionOptions{Dir: t.TempDir()}}
	done := make(chan error, 1)
	go func() {
		done <- srv.Serve(context.Background(), inR, outW)
		outW.Close()
		inR.Close()
	}()
	if _, err := inW.Write([]byte("runcommand\n\x00\x00\x00\x05block")); err != nil {
		t.Fatal(err)
	}
	<-started
	outR.Close()
	select {
	case cause := <-causes:
		if !errors.Is(cause, protocol.ErrHangup) {
			t.Fatalf("cause %v, want ErrHangup", cause)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the command was not cancelled by the hang-up")
	}
	inW.Close()
	<-done
}
