package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/internal/fresh"
	"github.com/cmdsrv/cmdsrv/internal/procstate"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// disconnectWatchDelay is how long a command runs before the session
// starts watching for its client going away.
const disconnectWatchDelay = 20 * time.Millisecond

// maxCommandName bounds a request line; no command name is longer.
const maxCommandName = 256

// CommandFunc serves one extra request command (chg's attachio, chdir...).
// It reads its block, if any, with Session.ReadBlock and answers with
// Session.Frames. An error ends the session: ErrTruncated with status 1,
// anything else with its text on 'e' and status 255.
type CommandFunc func(ctx context.Context, s *Session) error

// Session serves one connection: it sends the hello, then reads requests
// until end of input, an empty request line, or an error. Fill in the
// fields, then call Serve once.
type Session struct {
	// Handler runs the commands. Required.
	Handler protocol.Handler
	// Options are the server's: configuration, starting directory
	// ("" = the process's), --traceback and whether each runcommand reads
	// Mercurial's global options (see ParseGlobalOptions).
	Options protocol.SessionOptions
	// Logger receives session events. nil: no logging.
	Logger hclog.Logger
	// Stderr is the server's own error stream, where the session's abort
	// messages go. nil: they go to Logger instead (a unix worker, whose
	// stderr would only be logged again).
	Stderr io.Writer
	// Env is the starting environment (nil = the process's).
	Env []string
	// PID and PGID are announced in the hello (0 = this process's).
	PID, PGID int
	// Commands are extra request commands, advertised as capabilities.
	Commands map[string]CommandFunc
	// MaxBlock bounds request blocks (0 = DefaultMaxBlock).
	MaxBlock int
	// Disconnected, if set, is run in a goroutine while each command runs;
	// it returns true as soon as the client is gone (the command's context
	// is then cancelled), or false once done is closed.
	Disconnected func(done <-chan struct{}) bool
	// System, if set, replaces running UI.System commands locally (chg
	// sends them to the client).
	System func(ctx context.Context, req *protocol.Request, cmd string) (int, error)
	// Pager, if set, starts a pager for a request; it returns a function
	// that detaches the pager at the end of the command.
	Pager func(ctx context.Context, req *protocol.Request, pagerCmd string) (stop func(), err error)
	// OnKey receives the keys reported by Request.UseKey.
	OnKey func(key string)
	// OnCommand, if set, is called as each runcommand request starts,
	// once its arguments are read: a unix worker marks its client as
	// owed a result from then until the 'r' frame is written, for the
	// master to answer if the worker dies in between (os.Exit).
	OnCommand func()
	// Mode is what every request says of how it is served
	// (protocol.Request.Mode).
	Mode protocol.Mode
	// OneCommand makes Serve return ErrCommandServed once a runcommand
	// is answered, reading nothing after it: a pipe supervisor answers
	// so for a child that could not start, and tries a new one for the
	// next command.
	OneCommand bool

	br     *bufio.Reader
	fw     *FrameWriter
	dir    string
	env    []string
	stdin  io.Reader // attached stdio (chg); nil: the channels
	stdout io.Writer
	stderr io.Writer
	msgEnc string
	input  *ChannelReader // stdin of the current request, when on channels
	// curDeps is the dependency set of the Handler the running command
	// runs on, for Request.UseKeyFrom (set by Warm's Handler); nil when
	// it declares none.
	curDeps *fresh.Set
	// inputReader is what input points to: one per session, reset for
	// each request, so that its answer buffer (256 KiB once a command
	// copies its stdin) is allocated once per session, not per command.
	inputReader ChannelReader

	greeted      bool  // Greet has run
	timings      []any // request name, duration...: at debug level only
	commandsDone atomic.Int64

	mu     sync.Mutex              // guards cancel
	cancel context.CancelCauseFunc // of the running command, nil between requests
}

// ServeStatus maps the error returned by Serve to the process exit status a
// pipe server ends with: nil 0, a truncated request 1, anything else 255.
func ServeStatus(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrTruncated):
		return 1
	}
	return 255
}

// UnknownCommandError is returned by Serve for a request it does not know.
type UnknownCommandError struct{ Name string }

func (e *UnknownCommandError) Error() string { return "unknown command " + e.Name }

// Serve runs the session over r and w until it ends. It returns nil when
// the client ended it cleanly (end of input between requests, or an empty
// request line); see ServeStatus for the other outcomes.
func (s *Session) Serve(ctx context.Context, r io.Reader, w io.Writer) error {
	if !s.greeted {
		if err := s.Greet(r, w); err != nil {
			return err
		}
	}
	if s.timings != nil {
		// Logged once the session is over, so that logging costs the
		// client nothing while it waits.
		defer func() { s.logger().Debug("requests served", s.timings...) }()
	}
	for {
		err := s.serveOne(ctx)
		if err == io.EOF {
			s.logger().Debug("session ended by client")
			return nil
		}
		if err != nil {
			return err
		}
		if s.OneCommand && s.commandsDone.Load() > 0 {
			return ErrCommandServed
		}
	}
}

// ErrCommandServed is Serve's error when OneCommand ended the session
// after its command.
var ErrCommandServed = errors.New("one command served")

// Greet prepares the session on r and w and sends the hello; Serve, given
// the same r and w, then goes on with the requests. A server that wants
// the hello out at once calls Greet before handing Serve to another
// goroutine; others just call Serve. Its error is Serve's.
func (s *Session) Greet(r io.Reader, w io.Writer) error {
	start := time.Now()
	if err := s.Resume(r, w); err != nil {
		return err
	}
	err := s.sendHello()
	if s.timings != nil {
		s.timings = append(s.timings, "hello", time.Since(start).String())
	}
	return err
}

// Resume prepares the session on r and w as Greet does, without sending
// the hello: the session goes on with requests a client of another
// process, which sent the hello, makes (a pipe server's new child after
// the last one died). Serve, given the same r and w, then serves them.
func (s *Session) Resume(r io.Reader, w io.Writer) error {
	s.greeted = true
	if s.logger().IsDebug() {
		// The server's side of each request, from its line to its
		// answer (docs/BENCHMARKS.md breaks a chg call down with it).
		s.timings = []any{}
	}
	if s.Handler == nil {
		return errors.New("protocol: Session.Handler is nil")
	}
	if br, ok := r.(*bufio.Reader); ok {
		s.br = br
	} else {
		s.br = bufio.NewReader(r)
	}
	s.fw = NewFrameWriter(w)
	s.dir = s.Options.Dir
	if s.dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return s.abort(fmt.Errorf("getting working directory: %w", err), false)
		}
		s.dir = wd
	}
	s.env = s.Env
	if s.env == nil {
		s.env = os.Environ()
	}
	s.Options.Config = s.Options.ConfigOrEmpty()
	enc, err := ChooseMessageEncodingFor(s.Options.Config)
	if err != nil {
		return s.abort(err, false)
	}
	s.msgEnc = enc
	return nil
}

func (s *Session) sendHello() error {
	h := wire.Hello{Capabilities: s.capabilities(), Encoding: "UTF-8", MessageEncoding: s.msgEnc, PID: s.PID, PGID: s.PGID}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.PGID == 0 {
		h.PGID = processGroup()
	}
	if err := s.fw.WriteFrame(ChannelOutput, h.Marshal()); err != nil {
		return fmt.Errorf("sending hello: %w", err)
	}
	return nil
}

// serveOne reads and runs one request. io.EOF means a clean end.
func (s *Session) serveOne(ctx context.Context) error {
	line, err := s.br.ReadSlice('\n')
	switch {
	case err == io.EOF && len(line) == 0:
		return io.EOF
	case err == io.EOF:
		return s.abort(fmt.Errorf("command name %q without newline: %w", line, ErrTruncated), false)
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > maxCommandName:
		return s.abort(fmt.Errorf("request line too long"), true)
	case err != nil:
		return fmt.Errorf("reading request: %w", err)
	}
	name := string(line[:len(line)-1])
	if name == "" {
		return io.EOF
	}
	if s.timings != nil {
		start := time.Now()
		defer func() { s.timings = append(s.timings, name, time.Since(start).String()) }()
	}
	return s.dispatch(ctx, name)
}

// dispatch runs the request called name.
func (s *Session) dispatch(ctx context.Context, name string) error {
	switch name {
	case "runcommand":
		return s.runCommand(ctx)
	case "getencoding":
		return s.fw.WriteFrame(ChannelResult, []byte("UTF-8"))
	}
	if cmd, ok := s.Commands[name]; ok {
		if err := cmd(ctx, s); err != nil {
			return s.abort(fmt.Errorf("%s: %w", name, err), !errors.Is(err, ErrTruncated))
		}
		return nil
	}
	return s.abort(&UnknownCommandError{Name: name}, true)
}

// abort reports an error that ends the session once on the server's
// side, on its stderr when it has one (hg's "abort:" line), else in its
// log, and on 'e' too when toChannel is set, then returns it.
func (s *Session) abort(err error, toChannel bool) error {
	msg := "abort: " + err.Error() + "\n"
	if toChannel && s.fw != nil {
		_ = s.fw.WriteFrame(ChannelError, []byte(msg))
	}
	if s.Stderr != nil {
		_, _ = io.WriteString(s.Stderr, msg)
	} else {
		s.logger().Error("session aborted", "error", err)
	}
	return err
}

func (s *Session) logger() hclog.Logger {
	if s.Logger == nil {
		return hclog.NewNullLogger()
	}
	return s.Logger
}

// ReadBlock reads the block of the current request.
func (s *Session) ReadBlock() ([]byte, error) {
	return wire.ReadBlock(s.br, s.MaxBlock)
}

// Reader returns the buffered reader of the connection; extensions that read
// raw bytes (chg's setumask) use it.
func (s *Session) Reader() *bufio.Reader { return s.br }

// Frames returns the session's frame writer.
func (s *Session) Frames() *FrameWriter { return s.fw }

// WorkDir returns the session's working directory.
func (s *Session) WorkDir() string { return s.dir }

// SetWorkDir changes the session's working directory for later requests.
func (s *Session) SetWorkDir(dir string) { s.dir = dir }

// Environ returns the session's environment.
func (s *Session) Environ() []string { return s.env }

// SetEnviron replaces the session's environment for later requests.
func (s *Session) SetEnviron(env []string) { s.env = env }

// Attach makes later commands use these streams instead of the 'I', 'o'
// and 'e' channels (chg's attachio). Results stay on the connection.
func (s *Session) Attach(stdin io.Reader, stdout, stderr io.Writer) {
	s.stdin, s.stdout, s.stderr = stdin, stdout, stderr
}

// Attached reports whether Attach has been called.
func (s *Session) Attached() bool { return s.stdout != nil }

// Interrupt cancels the running command, as SIGINT does: its
// context.Cause is a *protocol.SignalError for SIGINT. It returns false
// when no command is running.
func (s *Session) Interrupt() bool {
	return s.InterruptWith(&protocol.SignalError{Signal: os.Interrupt})
}

// InterruptWith cancels the running command with cause, which the command
// reads with context.Cause. It returns false when no command is running.
func (s *Session) InterruptWith(cause error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel == nil {
		return false
	}
	s.cancel(cause)
	return true
}

// Busy reports whether a command is running.
func (s *Session) Busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancel != nil
}

func (s *Session) runCommand(ctx context.Context) error {
	block, err := s.ReadBlock()
	if err != nil {
		return s.abort(fmt.Errorf("runcommand: %w", err), !errors.Is(err, ErrTruncated))
	}
	var args []string
	if len(block) > 0 {
		args = strings.Split(string(block), "\x00")
	}
	if s.OnCommand != nil {
		s.OnCommand()
	}
	status := s.run(ctx, args)
	if in := s.input; in != nil && in.broken != nil {
		// The connection failed under the command: the request was cut
		// off mid-way, so end the session as at end of input mid-request.
		return s.abort(fmt.Errorf("runcommand: %w", in.broken), false)
	}
	err = s.fw.WriteResult(int32(status & 0xff))
	s.commandsDone.Add(1)
	return err
}

// CommandsDone returns the number of runcommand requests answered so far.
func (s *Session) CommandsDone() int { return int(s.commandsDone.Load()) }

// run prepares the request for args and runs the handler.
func (s *Session) run(ctx context.Context, args []string) int {
	errOut := s.stderr
	if errOut == nil {
		errOut = &channelWriter{fw: s.fw, ch: ChannelError}
	}
	fail := func(err error) int {
		fmt.Fprintf(errOut, "abort: %s\n", err)
		return 255
	}
	req, err := s.newRequest(args)
	if err != nil {
		return fail(err)
	}
	req.Stderr = errOut
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancel = nil
		s.mu.Unlock()
	}()
	if s.Disconnected != nil {
		// Watch only commands that last: a watcher goroutine started and
		// waited for on every command costs more than a short command
		// itself when the CPUs are busy (a wake-up on another thread).
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		timer := time.AfterFunc(disconnectWatchDelay, func() {
			defer wg.Done()
			if s.Disconnected(done) {
				s.logger().Info("client disconnected; cancelling its command")
				cancel(protocol.ErrHangup)
			}
		})
		defer func() {
			close(done)
			if timer.Stop() {
				wg.Done() // the watcher never started
			}
			wg.Wait()
		}()
	}
	ui := req.UI.(*sessionUI)
	defer ui.stopPager()
	if s.Mode == protocol.ModeDirect || !wantsClientProcess(s.Handler, req.Args) {
		return RunHandler(cctx, s.Handler, req, s.logger())
	}
	return s.runInClientProcess(cctx, req, errOut)
}

// ClientProcessFor is implemented by a Handler that asks for the client's
// process state for some commands only: cmdsrv's wrapper of an
// application, whose nested `serve --cmdserver pipe` must not hold the
// process while its own commands are lent it.
type ClientProcessFor interface {
	ClientProcessFor(args []string) bool
}

func wantsClientProcess(h protocol.Handler, args []string) bool {
	if f, ok := h.(ClientProcessFor); ok {
		return f.ClientProcessFor(args)
	}
	return protocol.WantsClientProcess(h)
}

// runInClientProcess runs a command of a Handler that asked for the
// client's process state (protocol.ClientProcess): all of it lent for the
// command, or only os.Args when the rest is the client's already (chg's
// attachio, chdir and setenv).
func (s *Session) runInClientProcess(ctx context.Context, req *protocol.Request, errOut io.Writer) int {
	req.ClientProcess = true
	run := func() int { return RunHandler(ctx, s.Handler, req, s.logger()) }
	lend := procstate.Lend
	if s.Attached() {
		lend = procstate.LendArgs
	}
	status, err := lend(req, os.Args[0], run)
	if err != nil {
		s.logger().Error("lending the process state to a command", "error", err)
		fmt.Fprintf(errOut, "abort: %v\n", err)
		if status == 0 {
			status = 255
		}
	}
	return status
}

// IsReusable reports whether h declares itself reusable.
func IsReusable(h protocol.Handler) bool {
	r, ok := h.(protocol.Reusable)
	return ok && r.Reusable()
}

// RunHandler runs h for req and recovers a panic: the panic is logged with
// the command's name and the stack (its arguments only at debug level:
// they may carry tokens and passwords), "abort: command panicked: VALUE"
// goes to req.Stderr (with the stack when req.Traceback), and the status
// is 255.
func RunHandler(ctx context.Context, h protocol.Handler, req *protocol.Request, log hclog.Logger) (status int) {
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			if log != nil {
				name := ""
				if len(req.Args) > 0 {
					name = req.Args[0]
				}
				log.Error("command panicked", "command", name, "panic", v, "stack", string(stack))
				log.Debug("arguments of the command that panicked", "command", name, "args", req.Args)
			}
			msg := fmt.Sprintf("abort: command panicked: %v\n", v)
			if req.Traceback {
				msg += string(stack)
			}
			_, _ = io.WriteString(req.Stderr, msg)
			status = 255
		}
	}()
	return h.ServeCommand(ctx, req)
}

func (s *Session) newRequest(args []string) (*protocol.Request, error) {
	var g GlobalOptions
	rest := args
	if s.Options.GlobalOptions {
		var err error
		if g, rest, err = ParseGlobalOptions(args); err != nil {
			return nil, err
		}
	}
	cfg := s.Options.Config.Clone()
	if err := cfg.Apply(g.Config); err != nil {
		return nil, err
	}
	dir, err := g.Dir(s.dir)
	if err != nil {
		return nil, err
	}
	req := &protocol.Request{
		Args:      rest,
		Dir:       dir,
		Env:       append([]string(nil), s.env...),
		Config:    cfg,
		Log:       s.logger(),
		Pager:     g.Pager,
		Traceback: g.Traceback || s.Options.Traceback,
		Mode:      s.Mode,

		ClientProcess: s.stdout != nil, // chg's attachio, chdir, setenv
	}
	s.input = nil
	if s.stdout != nil {
		req.Stdin, req.Stdout = s.stdin, s.stdout
	} else {
		s.inputReader = ChannelReader{fw: s.fw, br: s.br, max: s.MaxBlock, buf: s.inputReader.buf}
		s.input = &s.inputReader
		req.Stdin = s.input
		req.Stdout = &channelWriter{fw: s.fw, ch: ChannelOutput}
	}
	// As hg's ui.interactive default: a prompt asks when the command's
	// stdin is a terminal, which it can be only after attachio (chg).
	f, isFile := req.Stdin.(*os.File)
	req.UI = &sessionUI{s: s, req: req, interactiveDefault: isFile && isTerminal(f)}
	return req, nil
}

// capabilities returns the capability names of the session, in no order:
// Hello.Marshal sorts them.
func (s *Session) capabilities() []string {
	caps := make([]string, 0, 2+len(s.Commands))
	caps = append(caps, "getencoding", "runcommand")
	for name := range s.Commands {
		caps = append(caps, name)
	}
	return caps
}
