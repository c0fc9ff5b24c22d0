//go:build unix

package pipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/clientpage"
	"github.com/cmdsrv/cmdsrv/internal/envlist"
	"github.com/cmdsrv/cmdsrv/internal/fdpass"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/sysfd"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// Supervisor serves a pipe session from a child process, so that a
// command that ends the process (os.Exit, log.Fatal, a panic in a
// goroutine, a signal's default action) ends that command only, as a
// unix-pool worker's does: the client gets everything the command wrote
// and the exit status as the command's result, and goes on with its next
// command.
//
// The Supervisor starts its child at once; the child inherits the
// client's stdin and stdout and serves the session itself, hello first
// (Server with Child set), so that the Supervisor reads and copies
// nothing while all goes well. The hello names the Supervisor's pid and
// process group: signals reach the child through it (the child has a
// process group of its own, so that a terminal's Ctrl-C reaches it once).
// When the child dies during a command, the Supervisor answers from the
// client page they share (internal/clientpage), takes the rest of an
// answer to an input request the child waited for off the pipe, and
// starts a new child that resumes the session without a hello. When the
// child dies before it serves (its package initialisation or its
// constructor exits or fails), the Supervisor answers the next command
// itself with what the start-up wrote and its exit status, as a plain run
// of the program would end, and starts a new child for the command after
// it, as a plain run would start again. Any other end of the child is
// the server's.
type Supervisor struct {
	// Command returns the command of a new child: this program run again
	// so that it serves with Server.Child from TakeChild. Its Path, Args,
	// Dir and Env are used (nil Env: the process's); the Supervisor sets
	// the rest.
	Command func() *exec.Cmd
	// Session is what a session the Supervisor serves itself, in place
	// of a child that died before serving, starts from (its
	// configuration: the 'm' encoding, cmdserver.shutdown-on-interrupt).
	Session protocol.SessionOptions
	// Logger receives the Supervisor's events (nil: none).
	Logger hclog.Logger
	// Stdin and Stdout are the client's streams (nil: os.Stdin,
	// os.Stdout); Stderr is the children's and the Supervisor's (nil:
	// os.Stderr).
	Stdin, Stdout, Stderr *os.File
	// Signals, if set, delivers the signals to forward to the child
	// (SIGINT, SIGTERM, SIGHUP: the child reacts as Server.Signals says).
	Signals <-chan os.Signal
}

// Serve runs the session until it ends and returns the server's exit
// status: the last child's (128+N for a death by signal N), or, when the
// Supervisor served the session itself, ServeStatus of that session. An
// error means no child could be started.
func (s *Supervisor) Serve(ctx context.Context) (int, error) {
	s.defaults()
	files, err := newChildFiles()
	if err != nil {
		return 255, err
	}
	// sp is the spare child, kept from the session's first exit during
	// a command on (a CLI that exits once will again): started and warm,
	// it waits to resume the session when the child serving it dies, so
	// that the command after an exit is warm too.
	sp := &spare{}
	defer func() {
		sp.stop()
		files.close()
	}()
	resume := false
	for {
		// current: the child starts with the command it may fail to
		// start for waiting (or at the session's start): a start-up
		// failure is then that command's, as a plain run's would be.
		current := false
		ch, err := sp.take(resume)
		if ch != nil {
			files, sp.files = sp.files, files
			s.logger().Info("the spare child resumes the session", "pid", ch.cmd.Process.Pid)
		} else {
			if err != nil {
				s.logger().Debug("the spare child cannot take over; starting another", "error", err)
			}
			files.reset()
			current = !resume || s.requestWaiting()
			if ch, err = s.start(files, resume, false); err != nil {
				return 255, err
			}
		}
		if sp.wanted {
			sp.refill(s)
		}
		forwarded := s.watch(ctx, ch)
		// The child wrote without blocking (frameConn) on the file
		// description the supervisor writes on from now.
		_ = unix.SetNonblock(int(s.Stdout.Fd()), false)
		status := clientpage.DeathStatus(ch.cmd.ProcessState)
		relay := ch.relays()
		dead, err := clientpage.ReadDead(int(files.page.File().Fd()))
		switch {
		case err != nil:
			fdpass.Close(relay)
			s.logger().Warn("reading the child's client page", "error", err)
			return status, nil
		case !dead.Ready():
			fdpass.Close(relay)
			if forwarded && signalled(ch.cmd.ProcessState) {
				return status, nil // a signal ended the server as it started
			}
			if !current {
				// It started before the command it would answer: what
				// its start-up read may have been mended since. A new
				// child starts for the command once it is there.
				s.logger().Info("child ended before serving; starting another for the next command", "status", status)
				if code, ok := s.waitRequest(ctx); !ok {
					return code, nil
				}
				// The spare started before the command too: the next
				// child is started for it.
				sp.discard()
				continue
			}
			code, again := s.serveStartup(ctx, files, status, resume)
			if !again {
				return code, nil
			}
			resume = true // the hello is out
			continue
		case !dead.InCommand():
			fdpass.Close(relay)
			return status, nil
		}
		err = dead.Answer(relay, status, func(b []byte) error {
			_, err := s.Stdout.Write(b)
			return err
		})
		fdpass.Close(relay)
		if err == nil {
			_, err = dead.SkipAnswer(s.Stdin)
		}
		switch {
		case errors.Is(err, clientpage.ErrTorn):
			s.logger().Warn("child died while writing to its client; ending the session without its status", "pid", ch.cmd.Process.Pid, "status", status)
			return status, nil
		case err != nil:
			s.logger().Debug("answering in a dead child's place", "pid", ch.cmd.Process.Pid, "error", err)
			return status, nil
		}
		s.logger().Info("child ended during a command; answered with its status", "pid", ch.cmd.Process.Pid, "status", status)
		resume = true
		sp.wanted = true
	}
}

// requestWaiting reports whether the client's next request has arrived.
func (s *Supervisor) requestWaiting() bool {
	fds := []unix.PollFd{{Fd: int32(s.Stdin.Fd()), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0
}

// waitRequest waits, with no child, for the client's next request. It
// reports false, with the server's status, when the session ends first:
// the client closed its end (0), or a signal or ctx ended the server (255,
// said on stderr as a child says it).
func (s *Supervisor) waitRequest(ctx context.Context) (int, bool) {
	fds := []unix.PollFd{{Fd: int32(s.Stdin.Fd()), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 100)
		switch {
		case err != nil && !errors.Is(err, unix.EINTR):
			return 255, false
		case n > 0 && fds[0].Revents&unix.POLLIN != 0:
			return 0, true
		case n > 0:
			return 0, false // hung up with nothing to read
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(s.Stderr, "killed!")
			return 255, false
		case sig := <-s.Signals:
			word := "killed!"
			if sig == os.Interrupt {
				word = "interrupted!"
			}
			fmt.Fprintln(s.Stderr, word)
			return 255, false
		default:
		}
	}
}

// spare is the Supervisor's spare child and its files, which the child
// serving the session and the spare swap at each take-over.
type spare struct {
	wanted bool // keep one from now on
	ch     *child
	files  *childFiles
}

// refill starts a spare child if there is none.
func (sp *spare) refill(s *Supervisor) {
	if sp.ch != nil {
		return
	}
	if sp.files == nil {
		files, err := newChildFiles()
		if err != nil {
			s.logger().Debug("no spare child", "error", err)
			return
		}
		sp.files = files
	}
	sp.files.reset()
	ch, err := s.start(sp.files, true, true)
	if err != nil {
		s.logger().Debug("no spare child", "error", err)
		return
	}
	sp.ch = ch
}

// take hands over the spare child, told to resume the session, when
// the hello is out (resume) and it is still there; nil otherwise (an
// error says why it could not).
func (sp *spare) take(resume bool) (*child, error) {
	ch := sp.ch
	if ch == nil || !resume {
		return nil, nil
	}
	sp.ch = nil
	select {
	case <-ch.exited:
		return nil, fmt.Errorf("the spare child (pid %d) has exited: %s", ch.cmd.Process.Pid, ch.cmd.ProcessState)
	default:
	}
	if _, err := ch.ctl.Write([]byte{1}); err != nil {
		ch.kill()
		return nil, fmt.Errorf("waking the spare child: %w", err)
	}
	return ch, nil
}

// discard ends the spare child, if any, keeping its files.
func (sp *spare) discard() {
	if sp.ch != nil {
		sp.ch.kill()
		sp.ch = nil
	}
}

// stop ends the spare child, if any, and closes its files.
func (sp *spare) stop() {
	sp.discard()
	if sp.files != nil {
		sp.files.close()
	}
}

// kill ends a child that serves no one, and reaps it.
func (ch *child) kill() {
	_ = unix.Kill(-ch.cmd.Process.Pid, unix.SIGKILL) // its process group
	<-ch.exited
	fdpass.Close(ch.relays())
}

func (s *Supervisor) defaults() {
	if s.Stdin == nil {
		s.Stdin = os.Stdin
	}
	if s.Stdout == nil {
		s.Stdout = os.Stdout
	}
	if s.Stderr == nil {
		s.Stderr = os.Stderr
	}
}

func (s *Supervisor) logger() hclog.Logger {
	if s.Logger == nil {
		return hclog.NewNullLogger()
	}
	return s.Logger
}

// childFiles are what every child of the session is handed: the client
// page and the files that keep its start-up's output.
type childFiles struct {
	page    *clientpage.Page
	capture [2]*os.File
}

func newChildFiles() (*childFiles, error) {
	pg, err := clientpage.New()
	if err != nil {
		return nil, fmt.Errorf("pipe supervisor: %w", err)
	}
	files := &childFiles{page: pg}
	for i, name := range []string{"cmdsrv-startup-stdout", "cmdsrv-startup-stderr"} {
		if files.capture[i], err = clientpage.NewFile(name); err != nil {
			files.close()
			return nil, fmt.Errorf("pipe supervisor: %w", err)
		}
	}
	return files, nil
}

// reset readies the files for a new child.
func (f *childFiles) reset() {
	f.page.Reset()
	for _, c := range f.capture {
		_ = c.Truncate(0)
		_, _ = c.Seek(0, io.SeekStart) // the offset the child's fds 1 and 2 share
	}
}

func (f *childFiles) close() {
	f.page.File().Close()
	for _, c := range f.capture {
		if c != nil {
			c.Close()
		}
	}
}

// child is a running child of the Supervisor.
type child struct {
	cmd    *exec.Cmd
	ctl    *net.UnixConn
	exited chan struct{} // closed once it is reaped
	// ctlDone is closed once the child's socket reached its end.
	ctlDone chan struct{}
	mu      sync.Mutex // guards relay
	relay   []int      // the last lent command's fd 1 and 2 pipes
}

// start starts a child, which resumes the session when resume is set;
// a spare one waits to be told to (spare.take) first.
func (s *Supervisor) start(files *childFiles, resume, spare bool) (*child, error) {
	fds, err := sysfd.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("pipe supervisor: creating socketpair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "pipe-child"), os.NewFile(uintptr(fds[1]), "pipe-parent")
	defer theirs.Close()
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, fmt.Errorf("pipe supervisor: opening socketpair: %w", err)
	}
	mark := "1"
	switch {
	case spare:
		mark = childSpare
	case resume:
		mark = childResume
	}
	cmd := s.Command()
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = envlist.Set(env, childEnv, mark)
	// Its start-up, package initialisation first, writes to the capture
	// files; TakeChild moves its fds 1 and 2 to the client's stdout and
	// the server's stderr.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.Stdin, files.capture[0], files.capture[1]
	// In TakeChild's order: childCtlFD, childPageFD, childStdoutFD,
	// childStderrFD, childOutFD, childErrFD.
	cmd.ExtraFiles = []*os.File{theirs, files.page.File(), files.capture[0], files.capture[1], s.Stdout, s.Stderr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fc.Close()
		return nil, fmt.Errorf("pipe supervisor: starting a child: %w", err)
	}
	ch := &child{cmd: cmd, ctl: fc.(*net.UnixConn), exited: make(chan struct{}), ctlDone: make(chan struct{})}
	go ch.readRelays()
	go func() {
		_ = cmd.Wait()
		close(ch.exited)
	}()
	return ch, nil
}

// readRelays keeps the pipes of the last lent command the child handed
// over, until the child's end of the socket closes.
func (ch *child) readRelays() {
	defer close(ch.ctlDone)
	defer ch.ctl.Close()
	rc, err := ch.ctl.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 16)
	for {
		_, fds, err := fdpass.RecvInto(rc, buf, 2)
		if err != nil {
			return
		}
		if len(fds) == 0 {
			continue
		}
		ch.mu.Lock()
		fdpass.Close(ch.relay)
		ch.relay = fds
		ch.mu.Unlock()
	}
}

// relays hands over the last command's pipes, once the child's socket
// has reached its end (every message the child sent has been read).
func (ch *child) relays() []int {
	select {
	case <-ch.ctlDone:
	case <-time.After(time.Second):
		// Something still holds the child's end: what was read is
		// what there is.
		ch.ctl.Close()
		<-ch.ctlDone
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	fds := ch.relay
	ch.relay = nil
	return fds
}

// watch waits for the child to be reaped, forwarding signals to it (and
// SIGTERM once ctx is done). It reports whether any was forwarded.
func (s *Supervisor) watch(ctx context.Context, ch *child) (forwarded bool) {
	done := ctx.Done()
	for {
		select {
		case <-ch.exited:
			return forwarded
		case sig := <-s.Signals:
			forwarded = true
			if err := ch.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
				s.logger().Debug("forwarding a signal to the child", "signal", sig, "error", err)
			}
		case <-done:
			done = nil
			forwarded = true
			_ = ch.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
}

func signalled(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// serveStartup serves the session in place of a child that died before
// serving: the next command gets what its start-up wrote and its status,
// as a plain run that ends as it starts. Then (again) a new child is to
// be tried for the command after it, as a plain run of it would start
// again: the file its constructor or its packages' initialisation could
// not use may have been mended. Otherwise the session is over, with
// code.
func (s *Supervisor) serveStartup(ctx context.Context, files *childFiles, status int, resume bool) (code int, again bool) {
	h := &session.StartupEnd{Status: status}
	h.Stdout, _ = readAll(files.capture[0])
	h.Stderr, _ = readAll(files.capture[1])
	s.logger().Info("child ended before serving; answering the next command with its output and status", "status", status)
	srv := &Server{Handler: h, Session: s.Session, Logger: s.Logger, Stderr: s.Stderr, Signals: s.Signals, resume: resume, oneCommand: true}
	err := srv.Serve(ctx, s.Stdin, s.Stdout)
	if errors.Is(err, session.ErrCommandServed) {
		return 0, true
	}
	return session.ServeStatus(err), false
}
