package protocol

import (
	"context"
	"errors"
	"io"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/internal/envlist"
	"github.com/cmdsrv/cmdsrv/internal/hostpath"
)

// A Handler runs one command of an application.
//
// ServeCommand runs req and returns its exit code, which is masked to 0..255
// on the wire (so -1 becomes 255). ctx is cancelled when the client
// interrupts the command (SIGINT to a pipe server, or forwarded by chg) or
// disconnects; a long command should watch it and return soon after.
// context.Cause(ctx) says why: a *SignalError or ErrHangup (cause.go).
//
// The request, its streams and its UI are valid only until ServeCommand
// returns; the handler must not keep them or change them. A command must
// take its arguments, directory, environment and stdio from req, never from
// process globals: a server runs many requests in one process.
//
// A panic in ServeCommand is recovered: the session writes a last message on
// the error channel, answers 255 and goes on with the next request.
type Handler interface {
	ServeCommand(ctx context.Context, req *Request) int
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, req *Request) int

// ServeCommand calls f(ctx, req).
func (f HandlerFunc) ServeCommand(ctx context.Context, req *Request) int { return f(ctx, req) }

// Request is one command to run.
type Request struct {
	// Args are the command and its arguments, without the global options
	// (--config, --cwd, -R, --pager, --traceback) that led them.
	Args []string
	// Dir is the working directory of this command, absolute. Relative
	// paths in Args are relative to it (see Path).
	Dir string
	// Env is the environment of this command, as "NAME=VALUE" entries.
	Env []string
	// Config is the effective configuration: the server's, overridden by
	// this request's --config options.
	Config *Config
	// Stdin reads the client's input: the 'I' channel, or the client's own
	// stdin once chg's attachio has passed it.
	Stdin io.Reader
	// Stdout and Stderr write to the client: the 'o' and 'e' channels, or
	// the client's own descriptors after attachio.
	Stdout io.Writer
	Stderr io.Writer
	// UI offers prompts, messages, running shell commands and the pager.
	UI UI
	// Log is the server's logger for this session.
	Log hclog.Logger
	// Pager is the --pager option of this request: "on", "off", "auto", or
	// "" when it was not given.
	Pager string
	// Traceback is true when --traceback was given: errors should carry
	// stack traces.
	Traceback bool

	// Mode is how the request is served: ModeDirect, ModePipe, ModeUnix
	// or ModeChg (served.go).
	Mode Mode
	// ClientProcess is true when the process's own stdio, working
	// directory and environment are this request's while the command
	// runs: a direct run, chg's attached stdio, or a Handler that asked
	// for it (process.go). os.Stdout is then the client's stdout.
	ClientProcess bool
}

// Getenv returns the value of name in the request's environment.
func (r *Request) Getenv(name string) string {
	v, _ := envlist.Lookup(r.Env, name)
	return v
}

// Path resolves p against the request's working directory as the system
// does: on Windows a rooted path (`\x`, `/x`) is on the directory's drive
// and `C:x` in drive C's current directory.
func (r *Request) Path(p string) string {
	return hostpath.Resolve(r.Dir, p)
}

// UseKey tells the server that this command used the warm state named key
// (a project directory, say). A unix server remembers recent keys and asks
// new workers to prepare them (see Prewarmer) before they serve anyone.
func (r *Request) UseKey(key string) {
	// The server's UI takes it; a UI of the application's own (a test's)
	// has nowhere to send it.
	if k, ok := r.UI.(interface{ UseKey(key string) }); ok {
		k.UseKey(key)
	}
}

// Prewarmer is implemented by Handlers that can prepare the warm state for
// a key reported by Request.UseKey before any client asks for it.
type Prewarmer interface {
	Prewarm(ctx context.Context, key string) error
}

// Reusable is implemented by Handlers whose process may serve several
// clients in turn. A unix server restores the process state (cwd,
// environment, umask, stdio, signal handling) between clients; the Handler
// promises that it keeps nothing of one client that another could see.
type Reusable interface {
	Reusable() bool
}

// ErrResponseExpected is returned by an interactive prompt at end of input.
var ErrResponseExpected = errors.New("response expected")

// UI is how a command talks to its user beyond plain stdio.
type UI interface {
	// Interactive reports whether prompts ask the user (ui.interactive).
	Interactive() bool
	// Prompt writes msg and reads one line of answer; an empty answer, or
	// any answer when not interactive, gives def. End of input is an
	// error ("response expected").
	Prompt(msg, def string) (string, error)
	// GetPass asks for a secret the same way, without echo where that is
	// possible.
	GetPass(msg string) (string, error)
	// System runs cmd with /bin/sh -c (on Windows %COMSPEC% /c, cmd.exe)
	// in the request's directory and environment and returns its exit
	// status. Under chg the client runs it.
	System(ctx context.Context, cmd string) (int, error)
	// StartPager sends the rest of the command's output through the pager
	// when --pager and the pager.* configuration ask for one; otherwise it
	// does nothing.
	StartPager(ctx context.Context) error
	// Status, Warn and Error write user messages: to stdout (Status) or
	// stderr, or as structured 'm' frames when ui.message-output=channel.
	Status(text string)
	Warn(text string)
	Error(text string)
}
