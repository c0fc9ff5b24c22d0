// Package cobrasrv serves a github.com/spf13/cobra command tree with cmdsrv:
// every request runs on a fresh tree, so flags parsed for one request never
// leak into the next, with the request's arguments and streams.
//
//	h := &cobrasrv.Handler{NewRootFor: newRootCmd} // func(*protocol.Request) *cobra.Command
//	p := cmdsrv.Program{Name: "mytool", NewHandler: func(*protocol.Config, hclog.Logger) (protocol.Handler, error) { return h, nil }}
//	os.Exit(p.Main(os.Args))
//
// Commands find the request (its directory, environment, configuration and
// UI) with Request(cmd.Context()).
package cobrasrv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// Handler adapts a cobra command tree to protocol.Handler.
type Handler struct {
	// NewRootFor builds a fresh command tree for req; it runs once per
	// request, so a CLI that builds its tree with its streams or options
	// (NewCmd(streams)) takes them from req. The tree must not share flag
	// variables with earlier trees (declare them inside the function, not
	// as package globals).
	NewRootFor func(req *protocol.Request) *cobra.Command
	// NewRoot is the older form of NewRootFor, for a tree that needs
	// nothing of the request; used when NewRootFor is nil.
	NewRoot func() *cobra.Command
	// AllowReuse declares the commands free of per-client process state,
	// so a unix worker may serve several clients in turn.
	AllowReuse bool
	// NoClientProcess turns off what Handler asks for by default: the
	// client's process state during each command (protocol.ClientProcess),
	// which is what lets cobra write to os.Stdout and os.Stderr, as it does
	// by default, in a pipe server and a unix worker too. Off, the
	// request's streams are set on the tree instead (see ServeCommand).
	NoClientProcess bool
}

// ClientProcess asks for the client's process state unless
// NoClientProcess is set: cobra's default streams are the process's.
func (h *Handler) ClientProcess() bool { return !h.NoClientProcess }

// ExitCoder is implemented by errors that carry an exit status; other
// errors from a command exit with 1.
type ExitCoder interface {
	ExitCode() int
}

// ExitError is an error with an exit status.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode returns e.Code.
func (e *ExitError) ExitCode() int { return e.Code }

type requestKey struct{}

// Request returns the cmdsrv request a command runs for, or nil when ctx
// does not come from this package.
func Request(ctx context.Context) *protocol.Request {
	r, _ := ctx.Value(requestKey{}).(*protocol.Request)
	return r
}

// Reusable reports the AllowReuse setting.
func (h *Handler) Reusable() bool { return h.AllowReuse }

// ServeCommand runs req.Args on a fresh tree.
//
// Cobra chooses its streams itself: OutOrStdout for a command's output,
// OutOrStderr for its Print functions and the usage after an error,
// ErrOrStderr for "Error: ...". When the process's own streams are the
// client's (req.ClientProcess: a direct run, chg's attached stdio, and by
// default the pipe and unix modes too), the tree is left as it is, so
// every one of those choices is a plain run's. Otherwise (NoClientProcess)
// the request's streams are set on the root (SetIn, SetOut, SetErr), and
// what cobra writes with OutOrStderr goes to stdout.
func (h *Handler) ServeCommand(ctx context.Context, req *protocol.Request) int {
	var root *cobra.Command
	if h.NewRootFor != nil {
		root = h.NewRootFor(req)
	} else {
		root = h.NewRoot()
	}
	root.SetArgs(req.Args)
	if !req.ClientProcess && !processStreams(req) {
		root.SetIn(req.Stdin)
		root.SetOut(req.Stdout)
		root.SetErr(req.Stderr)
	}
	err := root.ExecuteContext(context.WithValue(ctx, requestKey{}, req))
	if err == nil {
		return 0
	}
	var ec ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

// processStreams reports whether req's streams are the process's own, so
// that cobra's defaults (os.Stdin, os.Stdout, os.Stderr) reach the client.
func processStreams(req *protocol.Request) bool {
	return req.Stdin == io.Reader(os.Stdin) && req.Stdout == io.Writer(os.Stdout) && req.Stderr == io.Writer(os.Stderr)
}
