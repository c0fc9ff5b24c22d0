// Package pipe serves one command-server session over a pair of streams,
// normally the process's stdin and stdout: the way python-hglib and editor
// integrations run `hg serve --cmdserver pipe`.
package pipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// ErrInterrupted is returned by Serve when a signal ended the server
// between requests; its exit status is 255.
var ErrInterrupted = errors.New("interrupted")

// Server is a pipe command server. The zero value needs only a Handler.
type Server struct {
	// Handler runs the commands.
	Handler protocol.Handler
	// Session is what every session starts from: the server-wide
	// configuration (which also supplies cmdserver.shutdown-on-interrupt,
	// default true), the starting directory ("" = the process's),
	// --traceback and whether requests read Mercurial's global options.
	Session protocol.SessionOptions
	// Logger receives session events (nil: none).
	Logger hclog.Logger
	// Stderr is where abort messages and "interrupted!" go (nil: os.Stderr).
	Stderr io.Writer
	// Signals, if set, delivers SIGINT, SIGTERM and SIGHUP. During a
	// command each one interrupts that command; between requests SIGTERM
	// and SIGHUP end the server ("killed!"), and SIGINT does too
	// ("interrupted!") unless cmdserver.shutdown-on-interrupt is false.
	Signals <-chan os.Signal
	// Rebuild, if set, builds the Handler again (the application's
	// constructor) when a dependency it declared with protocol.Deps
	// changed: checked before every command, which then runs on the new
	// Handler, and watched, so that the new Handler is built between
	// commands as soon as a file changes (see session.Warm).
	Rebuild func() (protocol.Handler, error)
	// Child, if set, is what this process was handed as a Supervisor's
	// child (TakeChild): the session is served through its client page,
	// so that the parent can answer the client if this process dies
	// during a command, and resumes, without a hello, a session an
	// earlier child began.
	Child *Child

	// resume: the hello is out (a Supervisor answering in a dead
	// child's place). oneCommand: Serve returns
	// session.ErrCommandServed after one command (session.OneCommand).
	resume, oneCommand bool
}

// abandonAfter bounds how long Serve waits, after closing an
// interruptible in on a signal, for its session to end.
const abandonAfter = time.Second

// Serve runs one session over in and out. It returns nil when the client
// ended the session cleanly; the exit status of any other outcome is 1 for
// a request cut short by end of input, 255 for anything else
// (ErrInterrupted included).
//
// Serve does not leave its session running where it can end it: on a
// signal that ends the server between requests it cancels the session,
// closes in (when in is an io.Closer) and, when that close interrupts a
// read in progress (on Unix os.Pipe, a net.Conn, an io.Pipe: descriptors
// Go's poller reads), waits for the session to end. A blocking descriptor
// (ProtectStdio's in, a terminal, any file on Windows) cannot be
// interrupted so: Serve then returns at once, leaving the close to a
// goroutine (on Windows a file's Close waits for its read in progress),
// and the session's goroutine ends with in's next read, the caller being
// about to exit, as cmdsrv's pipe mode is. ProtectStdio
// leaves stdin blocking on purpose: a read through the poller costs every
// request round trip some 15-20 µs (about twice the round trip itself).
func (s *Server) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	stderr := s.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	sess := &session.Session{
		Handler: s.Handler,
		Options: s.Session,
		Logger:  s.Logger,
		Stderr:  stderr,
		Mode:    protocol.ModePipe,

		OneCommand: s.oneCommand,
	}
	// A supervised child's sessions, nested ones too, name the
	// supervisor, which forwards signals to the child.
	sess.PID, sess.PGID = helloIDs()
	if s.Rebuild != nil {
		warm := session.NewWarm(s.Handler, s.Rebuild, s.Logger, nil)
		sess.Handler = warm.Handler()
		defer warm.Watch()()
	}
	if fd, ok := fileFD(out); ok {
		// A pipe whose reader went away reports POLLERR on our end.
		sess.Disconnected = session.PollHangup(fd)
	}
	shutdownOnInterrupt, err := s.Session.Config.Bool("cmdserver.shutdown-on-interrupt", true)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	sessIn, sessOut := in, out
	switch {
	case s.Child != nil:
		if sessIn, sessOut, err = s.Child.begin(sess, in, out); err != nil {
			return err
		}
	case s.resume:
		if err := sess.Resume(in, out); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sess.Serve(ctx, sessIn, sessOut) }()
	if s.Signals == nil {
		return <-done
	}
	for {
		select {
		case err := <-done:
			return err
		case sig := <-s.Signals:
			if sess.InterruptWith(&protocol.SignalError{Signal: sig}) {
				continue
			}
			if sig == os.Interrupt && !shutdownOnInterrupt {
				continue
			}
			word := "killed!"
			if sig == os.Interrupt {
				word = "interrupted!"
			}
			fmt.Fprintln(stderr, word)
			cancel()
			wait := interruptible(in)
			if c, ok := in.(io.Closer); ok {
				if wait {
					_ = c.Close() // unblock the session's read
				} else {
					// The close cannot end the read, and on Windows it
					// waits for it (a file's Close waits for its reads in
					// progress there): the caller, about to exit, must
					// not wait on the client's next write.
					go c.Close()
				}
			}
			if !wait {
				return fmt.Errorf("%w by %v", ErrInterrupted, sig)
			}
			select {
			case <-done:
			case <-time.After(abandonAfter):
				if s.Logger != nil {
					s.Logger.Warn("session still reading its input after the signal; leaving it", "signal", sig)
				}
			}
			return fmt.Errorf("%w by %v", ErrInterrupted, sig)
		}
	}
}

// fileFD returns the descriptor of w when w is an *os.File. It asks
// SyscallConn rather than Fd, which would put a non-blocking file (an
// os.Pipe end) into blocking mode for good, taking its writes away from
// Go's poller.
func fileFD(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return -1, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd := -1
	if err := rc.Control(func(p uintptr) { fd = int(p) }); err != nil {
		return -1, false
	}
	return fd, true
}

// ProtectStdio moves the protocol off file descriptors 0 and 1 so that
// code writing to fd 1 or reading fd 0 directly cannot corrupt frames: it
// returns duplicates of the original stdin and stdout for the protocol,
// then points fd 0 at /dev/null and fd 1 at stderr. On Unix in stays
// blocking: each request is read with one system call (see Server.Serve
// for what that means on a signal). On Windows the same is done to the
// standard handles (and os.Stdin, os.Stdout): the protocol gets
// non-inheritable duplicates, stdin becomes NUL and stdout a duplicate of
// stderr.
func ProtectStdio() (in, out *os.File, err error) {
	return protectStdio()
}
