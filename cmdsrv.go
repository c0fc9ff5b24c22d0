// Package cmdsrv turns a Go command-line program into a command server that
// existing Mercurial command-server clients can drive: python-hglib and
// editor integrations over a pipe, any client over a unix socket, and the chg
// thin client.
//
// An application implements protocol.Handler and hands a constructor of it to
// Program.Main from its main function:
//
//	func main() {
//		p := cmdsrv.Program{Name: "myapp", NewHandler: newHandler}
//		os.Exit(p.Main(os.Args))
//	}
//
// The same binary then runs a command directly (`myapp ARGS...`) and serves
// every mode: `myapp serve --cmdserver pipe`, `--cmdserver unix --address
// PATH`, `--cmdserver chgunix` (what chg starts), with `--daemon`,
// `--pid-file` and `--config section.name=value`. Every other word of the
// command line stays the application's (its own `--config FILE`, its own
// `serve`): see Program for exactly which words cmdsrv reserves, and
// Program.GlobalOptions for Mercurial's command line. Worker processes of the
// unix services are re-executions of the same binary; Main recognises them
// and serves as a worker, so nothing else is needed in main.
//
// What the constructor builds is built once per serving process: once for a
// pipe server, once per unix worker before it is handed a client. A Handler
// that implements protocol.Reusable lets one worker serve several clients in
// turn (cmdserver.worker-reuse), which is what makes a shell loop of calls
// fast; protocol.Prewarmer and Request.UseKey let new workers prepare the
// state recent clients used.
//
// With Program.Client = ClientAuto, or CMDSRV_CLIENT=auto in the
// environment, the binary is also its own thin client, like Mercurial's chg:
// a direct call is handed to a warm chgunix server of the same binary
// (started on first use, restarted when the binary changes), with the
// caller's terminal, directory, umask and environment; when no server can be
// used the command runs in-process as before.
//
// Which client to use: the own client mode saves what the Handler's
// constructor costs, but it runs inside the binary, after the Go runtime
// and every package's init. When the start-up cost lives in package
// initialisation (init functions, package variables, big imports), use the
// thin client cmd/cmdsrv-chg (go install
// github.com/cmdsrv/cmdsrv/cmd/cmdsrv-chg@latest; CMDSRV_APP=/path/to/app
// cmdsrv-chg ARGS, or a symlink named after the application) or
// Mercurial's chg: they start in a few milliseconds whatever the
// application's init costs (cmdsrv-chg shares the own client mode's
// server). For
// an application with 30 ms of package init, a call takes about 35 ms
// directly or in the own client mode, about 5-7 ms through cmdsrv-chg and
// 4-6 ms through chg, measured on a loaded machine (README.md, "Which
// client").
//
// Applications built with cobra can use package cobrasrv; Go programs that
// drive a server use package client.
package cmdsrv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/chg"
	"github.com/cmdsrv/cmdsrv/internal/handover"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/pipe"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// NewHandlerFunc builds an application's Handler. It runs once in every
// process that serves commands (the pipe server, each unix worker, a direct
// run) before any command, so it is where expensive warm state is built.
// cfg is the server-wide configuration from --config.
type NewHandlerFunc func(cfg *protocol.Config, log hclog.Logger) (protocol.Handler, error)

// Program describes an application served by cmdsrv.
//
// The words cmdsrv reserves on the application's command line:
//
//   - With GlobalOptions false (the default), one form only: a process whose
//     first argument is `serve` and which has `--cmdserver` among the
//     arguments after it is a server (what chg and every Mercurial client
//     send: `serve --no-profile --cmdserver chgunix --address P
//     --daemon-postexec chdir:/`). Every argument after that `serve` is
//     then the server's: --cmdserver MODE, --address/-a PATH, --daemon/-d,
//     --daemon-postexec, --pid-file, --no-profile, --config
//     section.name=value (server-wide), -R/--repository DIR, --cwd DIR,
//     --traceback. Any other command line, `serve` without `--cmdserver`
//     included, is the application's: its arguments reach the Handler
//     untouched, in a direct run, through the client mode and through
//     chg, and so do the arguments of every runcommand. (chg copies its
//     client's --config, -R, --cwd and --traceback onto the chgunix
//     server's command line; such a server keeps only the --config values
//     of the section.name=value form.)
//   - With GlobalOptions true (the reference binary, cmd/cmdsrv), the
//     program reads argv as Mercurial does: global options (--config
//     section.name=value, --cwd DIR, -R/--repository DIR, --pager
//     on|off|auto, --traceback, --no-profile) may lead any command line and
//     apply to that command only, in a direct run and in every
//     runcommand; `[GLOBALS] serve --cmdserver MODE [OPTIONS]` is the same
//     server as `serve --cmdserver MODE [GLOBALS] [OPTIONS]`; `serve`
//     without --cmdserver aborts (there is no HTTP server), and a leading
//     server flag also serves (`cmdsrv --cmdserver pipe`).
//
// In both cases a runcommand `serve --cmdserver pipe` (`serve` alone with
// GlobalOptions) serves a nested pipe session over the command's own
// channels, and CMDSRV_CLIENT, CMDSRV_SOCKNAME and CMDSRV_DEBUG steer the
// client mode.
type Program struct {
	// Name of the application, used in log lines and socket directory
	// names. Empty: the base name of os.Args[0].
	Name string
	// NewHandler builds the application's Handler. Required.
	NewHandler NewHandlerFunc
	// GlobalOptions opts in to Mercurial's command line: hg's global
	// options before a command or before `serve`, in a direct run and in
	// every request (see the type's doc for the words it reserves). Off,
	// the application's command line is its own.
	GlobalOptions bool
	// Client is the client mode: ClientAuto hands every direct command
	// to a warm chgunix server of this same binary (started on demand),
	// falling back to running it in-process when no server can be used;
	// ClientOff (or "") runs commands in-process. The CMDSRV_CLIENT
	// environment variable overrides it.
	Client string
	// ChgOptions extend what makes a chgunix server outdated or wrong for
	// a client: more sensitive environment variables and config keys, and
	// more files whose change restarts the server (nil: the defaults). The
	// server hashes with them and hands them to its workers, so their
	// hashes agree.
	ChgOptions *ChgOptions
	// InitFiles are files the program reads before Main: in package
	// initialisation, or in main before it calls Main (the configuration
	// file many CLIs read at start-up, by a path from the environment:
	// add the variable to ChgOptions.SensitiveEnv too). A server's
	// process cannot read them again: a command that starts after one of
	// them changed runs in a new start of the program, as a direct run
	// would. A pipe server's child then ends with its status (the
	// command's os.Exit, as far as the client can tell), for the parent
	// to replace it with one that read the files anew; a unix or chgunix
	// master watches the files with its binary and hands over to a new
	// start of it (warm by the next call), and a chgunix server's
	// validate checks them too (ChgOptions.MtimePaths): when that start
	// fails as it initialises, chg is sent to start a server of its own,
	// whose exit chg passes on.
	InitFiles []string
	// SignalGrace is how long a direct run's command has, after SIGINT,
	// SIGTERM or SIGHUP cancelled its context, to return before the
	// signal ends the process the way it ends a plain program (the
	// default disposition, so the parent sees "killed by SIGINT"). A
	// second signal ends it at once. 0: DefaultSignalGrace; negative:
	// never (the command alone decides when to return).
	SignalGrace time.Duration
	// Stdin, Stdout and Stderr default to the os streams; tests replace
	// them.
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	args      []string   // Main's
	initFiles *initFiles // InitFiles' fingerprints, in a server's processes
}

// Main runs the program with args (os.Args, the program name first) and
// returns the exit status for os.Exit.
func (p *Program) Main(args []string) int {
	handover.AnswerProbe()
	p.args = args
	p.defaults(args)
	inv, err := parseArgs(args[1:], p.GlobalOptions, isWorker())
	if err == nil && (inv.worker || inv.server != nil) {
		p.initFiles = newInitFiles(p.InitFiles)
	}
	switch {
	case err != nil:
		return p.abort("%v", err)
	case inv.worker:
		return p.runWorker()
	case inv.server != nil:
		return p.serve(*inv.server, p.socketService)
	}
	if p.clientMode() == ClientAuto {
		if code, ok := p.runClient(*inv.direct); ok {
			return code
		}
	}
	return p.direct(*inv.direct)
}

func (p *Program) defaults(args []string) {
	if p.Name == "" && len(args) > 0 {
		p.Name = filepath.Base(args[0])
	}
	if p.Stdin == nil {
		p.Stdin = os.Stdin
	}
	if p.Stdout == nil {
		p.Stdout = os.Stdout
	}
	if p.Stderr == nil {
		p.Stderr = os.Stderr
	}
}

// abort prints Mercurial's form of a fatal error and returns 255.
func (p *Program) abort(format string, a ...any) int {
	fmt.Fprintf(p.Stderr, "abort: "+format+"\n", a...)
	return 255
}

func (p *Program) newLogger(level hclog.Level) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: p.Name, Output: p.Stderr, Level: logLevel(level)})
}

// logLevel is the level every logger of the program starts at:
// CMDSRV_LOG_LEVEL when set, else def. (Workers get their master's.)
func logLevel(def hclog.Level) hclog.Level {
	if env := os.Getenv("CMDSRV_LOG_LEVEL"); env != "" {
		return hclog.LevelFromString(env)
	}
	return def
}

// direct runs one command in this process with the real stdio, as chg
// falls back to when no server can be used.
func (p *Program) direct(d directArgs) int {
	cfg := &protocol.Config{}
	if err := cfg.Apply(d.globals.Config); err != nil {
		return p.abort("%v", err)
	}
	dir, err := os.Getwd()
	if err != nil {
		return p.abort("getting working directory: %v", err)
	}
	if dir, err = d.globals.Dir(dir); err != nil {
		return p.abort("%v", err)
	}
	log := p.newLogger(hclog.Warn)
	h, err := p.NewHandler(cfg, log)
	if err != nil {
		return p.abort("%v", err)
	}
	ctx, stop := p.directSignals()
	defer stop()
	req := &protocol.Request{
		Args:      d.args,
		Dir:       dir,
		Env:       os.Environ(),
		Config:    cfg,
		Stdin:     p.Stdin,
		Stdout:    p.Stdout,
		Stderr:    p.Stderr,
		Log:       log,
		Pager:     d.globals.Pager,
		Traceback: d.globals.Traceback,
		Mode:      protocol.ModeDirect,

		// The process is the user's, unless a test gave other streams.
		ClientProcess: p.Stdin == io.Reader(os.Stdin) && p.Stdout == io.Writer(os.Stdout) && p.Stderr == io.Writer(os.Stderr),
	}
	req.UI = session.NewLocalUI(req)
	return session.RunHandler(ctx, p.wrap(h, log), req, log) & 0xff
}

// socketService binds and serves a unix or chgunix server until ctx is
// done or a signal stops it, calling st.ready once the socket accepts
// connections (Program.socketService; the daemon layer's tests pass a
// small one of their own).
type socketService func(ctx context.Context, st serviceStart) error

// serviceStart is what a socket service starts from.
type serviceStart struct {
	o serverArgs
	// opts are the sessions' options, built once from o (sessionOptions).
	opts protocol.SessionOptions
	// listener is the socket systemd passed (daemon.ActivationListener),
	// served instead of binding o.address; nil when not activated.
	listener *net.UnixListener
	log      hclog.Logger
	ready    func()
}

func (p *Program) serve(o serverArgs, service socketService) int {
	if o.status || o.stop || o.restart {
		return p.control(o)
	}
	cfg := &protocol.Config{}
	if err := cfg.Apply(o.globals.Config); err != nil {
		return p.abort("%v", err)
	}
	// A pipe server's child starts where its parent went.
	if cwd := o.globals.Cwd; cwd != "" && !(o.mode == "pipe" && pipe.IsChild()) {
		if err := os.Chdir(cwd); err != nil {
			return p.abort("cannot change directory to '%s': %v", cwd, errors.Unwrap(err))
		}
	}
	switch o.mode {
	case "":
		return p.abort("no command server mode given: use --cmdserver pipe, unix or chgunix (cmdsrv has no HTTP server)")
	case "pipe":
		if o.daemon {
			return p.abort("--daemon cannot be used with --cmdserver pipe")
		}
		return p.servePipe(o, cfg)
	case "unix", "chgunix":
		return p.runService(o, cfg, service)
	}
	return p.abort("unknown mode %s", o.mode)
}

func (p *Program) servePipe(o serverArgs, cfg *protocol.Config) int {
	log := p.newLogger(hclog.Warn)
	opts, err := p.sessionOptions(o, cfg)
	if err != nil {
		return p.abort("%v", err)
	}
	child, err := pipe.TakeChild()
	if err != nil {
		return p.abort("%v", err)
	}
	if child == nil {
		if code, ok := p.supervisePipe(opts, log); ok {
			return code
		}
	}
	// The first Handler and every background rebuild are built alike.
	build := func() (protocol.Handler, error) {
		h, err := p.NewHandler(cfg, log)
		if err != nil {
			return nil, err
		}
		return p.wrap(h, log), nil
	}
	// A child's start-up output is kept for its parent, which answers
	// the client's commands with it if the constructor ends the process
	// or fails.
	release, err := child.CaptureStartup()
	if err != nil {
		return p.abort("%v", err)
	}
	h, err := build()
	if err != nil {
		return p.abort("%v", err)
	}
	if pr, ok := h.(protocol.Preparer); ok && child.Spare() {
		// A spare child has time before its command (still captured:
		// nothing of it belongs on the protocol stream).
		if err := pr.Prepare(context.Background()); err != nil {
			log.Warn("preparing the spare child's Handler failed; serving it unprepared", "error", err)
		}
	}
	release()
	in, out, err := pipe.ProtectStdio()
	if err != nil {
		return p.abort("%v", err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	srv := &pipe.Server{
		Handler: h,
		Session: opts,
		Logger:  log,
		Stderr:  os.Stderr,
		Signals: sigs,
		Rebuild: build,
		Child:   child,
	}
	err = srv.Serve(context.Background(), in, out)
	return session.ServeStatus(err)
}

var errNestedMode = errors.New("only --cmdserver pipe can be served inside a session")

// sessionOptions builds, once, what every session of a server starts
// from, and checks what every service needs before it starts: the -R
// directory (made absolute) and the 'm' encoding.
func (p *Program) sessionOptions(o serverArgs, cfg *protocol.Config) (protocol.SessionOptions, error) {
	opts := protocol.SessionOptions{Config: cfg, Traceback: o.globals.Traceback, GlobalOptions: p.GlobalOptions}
	if repo := o.globals.Repository; repo != "" {
		abs, err := filepath.Abs(repo)
		if err != nil {
			return opts, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return opts, fmt.Errorf("repository %s not found", repo)
		}
		opts.Dir = abs
	}
	if _, err := session.ChooseMessageEncodingFor(cfg); err != nil {
		return opts, err
	}
	return opts, nil
}

// ChgOptions tune what selects and what outdates a chgunix server; they are
// the chg package's Options. The zero value (or a nil *ChgOptions) gives
// the defaults.
type ChgOptions = chg.Options

// DefaultSignalGrace is Program.SignalGrace's default: long enough for a
// command that watches its context to clean up (remove a temporary file,
// print a last line), short enough that Ctrl-C on one that does not
// still feels immediate.
const DefaultSignalGrace = 250 * time.Millisecond

// directSignals returns the context of a direct run's command: SIGINT,
// SIGTERM and SIGHUP cancel it with a *protocol.SignalError as cause, and
// end the process with that signal's default disposition when the
// command has not returned within the grace (or at a second signal), as a
// plain program that does not catch them would end. SIGINT or SIGHUP
// ignored when the process started (a background job of a
// non-interactive shell, nohup) stays ignored, as it does for a plain Go
// program (whose runtime keeps only those two ignored). stop ends the
// watch; call it once the command has returned.
func (p *Program) directSignals() (ctx context.Context, stop func()) {
	var sigs []os.Signal
	for _, s := range []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP} {
		if !signal.Ignored(s) {
			sigs = append(sigs, s)
		}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	if len(sigs) == 0 {
		return ctx, func() { cancel(nil) }
	}
	grace := p.SignalGrace
	if grace == 0 {
		grace = DefaultSignalGrace
	}
	ch := make(chan os.Signal, len(sigs))
	signal.Notify(ch, sigs...)
	var mu sync.Mutex // held by a re-raise, so that stop cannot come between
	finished := false
	raise := func(s os.Signal) {
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			raiseDefault(s, p.Stderr)
		}
	}
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var first os.Signal
		var timeout <-chan time.Time
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				if first != nil {
					raise(s)
					continue
				}
				first = s
				cancel(&protocol.SignalError{Signal: s})
				if grace > 0 {
					timeout = time.After(grace)
				}
			case <-timeout:
				raise(first)
			}
		}
	}()
	return ctx, func() {
		mu.Lock()
		finished = true
		mu.Unlock()
		signal.Stop(ch)
		close(done)
		<-watched
		cancel(nil)
	}
}

// PlainMain serves the main function of a CLI written as a plain program:
// one that takes its arguments from os.Args, its directory and
// environment from the process and writes to os.Stdout and os.Stderr.
// Each command runs main with the client's process state
// (protocol.ClientProcess: os.Args, fds 0-2, directory, environment) and
// ends with status 0 when main returns. A direct run's os.Exit is the
// plain program's; what os.Exit and log.Fatal do in a server is in
// docs/adopting.md.
//
// Before each command the flag package's command line is put back as
// package initialisation left it: the flags defined then, at their
// defaults, and none of those main defines itself (which would otherwise
// panic as redefined on a server's second command).
//
//	p := cmdsrv.Program{Name: "mycli", NewHandler: cmdsrv.PlainMain(cliMain)}
//	os.Exit(p.Main(os.Args))
func PlainMain(main func()) NewHandlerFunc {
	return PlainRun(func() int { main(); return 0 })
}

// PlainRun is PlainMain for a CLI whose main is os.Exit(run()): each
// command's status is what run returns.
func PlainRun(run func() int) NewHandlerFunc {
	return func(*protocol.Config, hclog.Logger) (protocol.Handler, error) {
		// NewHandler runs after package initialisation, before any command.
		return &plainMain{run: run, flags: initFlags()}, nil
	}
}

// plainMain is the Handler of PlainMain and PlainRun.
type plainMain struct {
	run   func() int
	flags []*flag.Flag
}

func (m *plainMain) ServeCommand(context.Context, *protocol.Request) int {
	m.resetFlags()
	return m.run()
}

// ClientProcess asks for the client's process state: a plain program
// knows no other.
func (*plainMain) ClientProcess() bool { return true }

// initFlags returns the flags of flag.CommandLine as package
// initialisation defined them.
func initFlags() []*flag.Flag {
	var fs []*flag.Flag
	flag.CommandLine.VisitAll(func(f *flag.Flag) { fs = append(fs, f) })
	return fs
}

// resetFlags gives flag.CommandLine back its start-up flags, each at its
// default, so that a command sees neither the flags nor the values of the
// one before it.
func (m *plainMain) resetFlags() {
	fresh := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	fresh.Usage = func() { flag.Usage() }
	for _, f := range m.flags {
		_ = f.Value.Set(f.DefValue) // a Value that cannot take its default back keeps its value
		fresh.Var(f.Value, f.Name, f.Usage)
	}
	flag.CommandLine = fresh
}
