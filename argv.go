package cmdsrv

import (
	"fmt"

	"github.com/cmdsrv/cmdsrv/internal/chgclient"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// invocation is what this process is, read from its command line once by
// parseArgs: exactly one of worker, server and direct is set.
type invocation struct {
	// worker: a worker process of the unix services (its master's cookie
	// is in the environment; its role comes in its start-up message).
	worker bool
	// server: `serve --cmdserver MODE ...`.
	server *serverArgs
	// direct: one command run in this process (or handed to a server by
	// the client mode).
	direct *directArgs
}

// directArgs is a direct run.
type directArgs struct {
	// line is the command line as given: what the client mode hands a
	// server, which reads any global options itself.
	line []string
	// args reach the Handler (after any global options).
	args []string
	// globals are Mercurial's global options that led the command line;
	// always empty unless Program.GlobalOptions.
	globals session.GlobalOptions
}

// serverArgs are a server's options, wherever they stood on the command
// line (before `serve` or after it).
type serverArgs struct {
	mode     string // --cmdserver: pipe, unix, chgunix ("": not given)
	address  string // --address, -a
	daemon   bool   // --daemon, -d
	postexec []string
	pidFile  string
	status   bool // --status: print a running pool's status and exit
	stop     bool // --stop: stop the running server, its commands finished first
	restart  bool // --restart: have the running server hand over to its binary's current build
	// globals are the global options among the server's: Config holds
	// the server-wide --config values in order, Repository (-R) is the
	// sessions' starting directory, Cwd where the server itself runs,
	// Traceback is --traceback. (Pager is never set after `serve`.)
	globals session.GlobalOptions
}

// parseArgs reads args (os.Args without the program name) into what this
// process is. hg is Program.GlobalOptions: Mercurial's command line, where
// global options may stand before `serve` and a leading server flag
// (`cmdsrv --cmdserver pipe`) also serves. Without it, a process is a
// server only when args[0] is `serve` and `--cmdserver` follows, and a
// direct run's arguments are the application's, untouched.
func parseArgs(args []string, hg, isWorker bool) (invocation, error) {
	if isWorker {
		return invocation{worker: true}, nil
	}
	if !hg {
		if len(args) > 0 && args[0] == "serve" && chgclient.HasCmdserver(args[1:]) {
			o, err := parseServeArgs(args[1:], serverArgs{})
			if err != nil {
				return invocation{}, err
			}
			if o.mode == "chgunix" {
				o = withoutChgCopies(o)
			}
			return invocation{server: &o}, nil
		}
		return invocation{direct: &directArgs{line: args, args: args}}, nil
	}

	g, rest, err := session.ParseGlobalOptions(args)
	if err != nil {
		return invocation{}, err
	}
	switch {
	case len(rest) > 0 && rest[0] == "serve":
		rest = rest[1:]
	case len(rest) > 0 && isServeFlag(rest[0]):
	default:
		return invocation{direct: &directArgs{line: args, args: rest, globals: g}}, nil
	}
	// Options before `serve` come first: the same option after it wins.
	o, err := parseServeArgs(rest, serverArgs{globals: g})
	if err != nil {
		return invocation{}, err
	}
	return invocation{server: &o}, nil
}

// isServeFlag reports whether a is one of the server's own flags, which
// make `cmdsrv --cmdserver pipe` a server for an hg-compatible program.
func isServeFlag(a string) bool {
	opt, _, _, _ := session.ScanOption([]string{a}, 0, session.IsServe) // its value may follow
	return opt != nil && !opt.Global
}

// parseServeArgs reads the options of `serve` on top of o (what stood
// before `serve`).
func parseServeArgs(args []string, o serverArgs) (serverArgs, error) {
	o.globals.Config = append([]string(nil), o.globals.Config...)
	for i := 0; i < len(args); {
		opt, val, next, err := session.ScanOption(args, i, session.IsServe)
		if err != nil {
			return o, err
		}
		if opt == nil {
			return o, fmt.Errorf("serve: option or argument not recognized: %s", args[i])
		}
		i = next
		if opt.Global {
			if err := o.globals.Set(opt, val); err != nil {
				return o, err
			}
			continue
		}
		switch opt.Name() {
		case "--cmdserver":
			o.mode = val
		case "--address":
			o.address = val
		case "--daemon":
			o.daemon = true
		case "--daemon-postexec":
			o.postexec = append(o.postexec, val)
		case "--pid-file":
			o.pidFile = val
		case "--status":
			o.status = true
		case "--stop":
			o.stop = true
		case "--restart":
			o.restart = true
		}
	}
	return o, nil
}

// withoutChgCopies drops from a chgunix server's options what chg copied
// there from its client's command line: chg appends the client's
// `--config V`, `-R V`, `--cwd V` and `--traceback` to the server it
// starts, but for an application that did not opt in to hg's global
// options those words are the application's own (its `--config my.yaml`).
// A --config of hg's `section.name=value` form stays server-wide
// configuration.
func withoutChgCopies(o serverArgs) serverArgs {
	var cfg []string
	for _, c := range o.globals.Config {
		if (&protocol.Config{}).Apply([]string{c}) == nil {
			cfg = append(cfg, c)
		}
	}
	o.globals = session.GlobalOptions{Config: cfg}
	return o
}
