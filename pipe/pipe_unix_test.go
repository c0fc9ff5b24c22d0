//go:build unix

package pipe

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// serveOnPipe runs a Server whose input is the read end of a pipe, wrapped
// as wrap says: blocking, as a parent's pipe on stdin is (and as
// ProtectStdio leaves it), or non-blocking, read through Go's poller. It
// returns the write end, a client reading the output, the signal channel
// and Serve's result.
func serveOnPipe(t *testing.T, blocking bool, wrap func(*os.File) io.Reader) (w *os.File, c *client.Client, sigs chan os.Signal, done chan error) {
	t.Helper()
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	if !blocking {
		if err := syscall.SetNonblock(p[0], true); err != nil {
			t.Fatal(err)
		}
	}
	in := os.NewFile(uintptr(p[0]), "server-in")
	w = os.NewFile(uintptr(p[1]), "client-to-server")
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); w.Close(); outR.Close() })
	sigs, done = make(chan os.Signal, 1), make(chan error, 1)
	srv := &Server{
		Handler: protocol.HandlerFunc(func(context.Context, *protocol.Request) int { return 0 }),
		Session: protocol.SessionOptions{Config: &protocol.Config{}, Dir: t.TempDir()}, Stderr: io.Discard, Signals: sigs,
	}
	go func() {
		err := srv.Serve(context.Background(), wrap(in), outW)
		outW.Close()
		done <- err
	}()
	// The hello has come: the session is up and reading its input.
	if c, err = client.New(outR, w); err != nil {
		t.Fatal(err)
	}
	return w, c, sigs, done
}

func waitServe(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after the signal")
		return nil
	}
}

// TestSignalLeavesNoSessionReading: a signal between requests ends Serve,
// and when its input can be interrupted no goroutine of it stays blocked
// reading (the session used to outlive Serve).
func TestSignalLeavesNoSessionReading(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	_, _, sigs, done := serveOnPipe(t, false, func(f *os.File) io.Reader { return f })
	sigs <- syscall.SIGTERM
	if err := waitServe(t, done); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Serve: %v, want ErrInterrupted", err)
	}
}

// TestSignalWithBlockingInput: stdin as ProtectStdio leaves it (a blocking
// pipe, whose Close does not interrupt a read): a signal still ends Serve at
// once, and the session's goroutine ends with the input's next read.
func TestSignalWithBlockingInput(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, _, sigs, done := serveOnPipe(t, true, func(f *os.File) io.Reader { return f })
	sigs <- syscall.SIGTERM
	if err := waitServe(t, done); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Serve: %v, want ErrInterrupted", err)
	}
	w.Close() // the session's read sees the end of its input
}

// TestSignalWithInputThatCannotBeClosed: an input Serve cannot close (not an
// io.Closer) still lets a signal end the server; the session's goroutine
// ends with the input's next read, here the end of the pipe.
func TestSignalWithInputThatCannotBeClosed(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, _, sigs, done := serveOnPipe(t, true, func(f *os.File) io.Reader { return struct{ io.Reader }{f} })
	sigs <- syscall.SIGTERM
	if err := waitServe(t, done); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Serve: %v, want ErrInterrupted", err)
	}
	w.Close() // the session's read sees the end of its input
}

// TestServeKeepsOutputNonBlocking: Serve takes its output's descriptor for
// the hang-up watch without putting a non-blocking file (an os.Pipe end)
// into blocking mode, as File.Fd does: its writes stay with Go's poller.
func TestServeKeepsOutputNonBlocking(t *testing.T) {
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	defer outR.Close()
	srv := &Server{
		Handler: protocol.HandlerFunc(func(context.Context, *protocol.Request) int { return 0 }),
		Session: protocol.SessionOptions{Config: &protocol.Config{}, Dir: t.TempDir()}, Stderr: io.Discard,
	}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(context.Background(), inR, outW)
		outW.Close()
		done <- err
	}()
	c, err := client.New(outR, inW)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RunCommand(context.Background(), []string{"x"}, nil); err != nil {
		t.Fatal(err)
	}
	// Serve has set up the session, hang-up watch included, before the
	// hello went out; outW is not closed before done.
	rc, err := outW.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	if err := rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
	inW.Close()
	if err := waitServe(t, done); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if flags&unix.O_NONBLOCK == 0 {
		t.Fatal("Serve put its output into blocking mode")
	}
}
