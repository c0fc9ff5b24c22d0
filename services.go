package cmdsrv

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/internal/chgclient"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/pipe"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// appHandler wraps the application's Handler so that every application
// serves `serve --cmdserver pipe` nested in a session, over the command's
// own streams. It keeps the optional interfaces of the Handler it wraps.
type appHandler struct {
	h   protocol.Handler
	log hclog.Logger
	// hg is Program.GlobalOptions: `serve` alone is the nested server's
	// (hg's command); otherwise `serve` is the application's unless
	// --cmdserver follows.
	hg bool
	// init is the program's InitFiles, nil when it has none or in a
	// direct run.
	init *initFiles
}

func (p *Program) wrap(h protocol.Handler, log hclog.Logger) protocol.Handler {
	return &appHandler{h: h, log: log, hg: p.GlobalOptions, init: p.initFiles}
}

// nestedServe reports whether args are a nested server's, not the
// application's.
func (a *appHandler) nestedServe(args []string) bool {
	return len(args) > 0 && args[0] == "serve" && (a.hg || chgclient.HasCmdserver(args[1:]))
}

func (a *appHandler) ServeCommand(ctx context.Context, req *protocol.Request) int {
	if !a.nestedServe(req.Args) {
		// ClientProcessFor checked the files for this command, and had
		// it lent its client's process state if one changed.
		if req.ClientProcess && req.Mode != protocol.ModeDirect && a.init.isStale() {
			return a.runFresh(ctx, req)
		}
		return a.h.ServeCommand(ctx, req)
	}
	o, err := parseServeArgs(req.Args[1:], serverArgs{})
	if err == nil && o.mode != "pipe" {
		err = errNestedMode
	}
	if err != nil {
		req.UI.Error("abort: " + err.Error() + "\n")
		return 255
	}
	opts := protocol.SessionOptions{Config: req.Config, Dir: req.Dir, Traceback: req.Traceback, GlobalOptions: a.hg}
	srv := &pipe.Server{Handler: a, Session: opts, Logger: a.log, Stderr: req.Stderr}
	return session.ServeStatus(srv.Serve(ctx, req.Stdin, req.Stdout))
}

// Reusable reports whether the wrapped Handler is reusable.
func (a *appHandler) Reusable() bool { return session.IsReusable(a.h) }

// Dependencies forwards to the wrapped Handler: what it declared with
// protocol.Deps (nil: nothing).
func (a *appHandler) Dependencies() *protocol.Deps {
	if d, ok := a.h.(protocol.Dependent); ok {
		return d.Dependencies()
	}
	return nil
}

// ClientProcessFor reports whether the wrapped Handler asks for the
// client's process state, for the application's commands; a nested
// server is not lent it (its own commands are, one by one).
func (a *appHandler) ClientProcessFor(args []string) bool {
	// A command that is to run in a new start of the program
	// (InitFiles changed) is lent it too.
	// (Checked first: ServeCommand reads this check's result.)
	if a.nestedServe(args) {
		return false
	}
	changed := a.init.changed(a.log)
	return changed || protocol.WantsClientProcess(a.h)
}

// Prepare forwards to the application's Handler (protocol.Preparer).
func (a *appHandler) Prepare(ctx context.Context) error {
	if p, ok := a.h.(protocol.Preparer); ok {
		return p.Prepare(ctx)
	}
	return nil
}

// Prewarm forwards to the wrapped Handler when it is a Prewarmer.
func (a *appHandler) Prewarm(ctx context.Context, key string) error {
	if pw, ok := a.h.(protocol.Prewarmer); ok {
		return pw.Prewarm(ctx, key)
	}
	return nil
}
