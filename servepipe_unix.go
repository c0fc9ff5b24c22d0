//go:build unix

package cmdsrv

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/internal/envlist"
	"github.com/cmdsrv/cmdsrv/internal/fresh"
	"github.com/cmdsrv/cmdsrv/internal/selfexe"
	"github.com/cmdsrv/cmdsrv/pipe"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// supervisePipe serves `serve --cmdserver pipe` as a pipe.Supervisor: a
// child, this program again with the same arguments, serves the session,
// so that a command's os.Exit or log.Fatal ends that command only, as it
// ends a plain run. It is called in the parent only (the child serves
// in-process: servePipe); ok is true here.
func (p *Program) supervisePipe(opts protocol.SessionOptions, log hclog.Logger) (code int, ok bool) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	// A client gone while the supervisor answers for a dead child: the
	// write fails (EPIPE) rather than killing the supervisor.
	brokenPipes := make(chan os.Signal, 1)
	signal.Notify(brokenPipes, syscall.SIGPIPE)
	defer signal.Stop(brokenPipes)
	// The child is run as this process was: os.Args[0] (testscript's
	// binaries pick their role from it), then Main's arguments.
	args := append([]string{os.Args[0]}, p.args[1:]...)
	stderr, _ := p.Stderr.(*os.File)
	sup := &pipe.Supervisor{
		Command: func() *exec.Cmd {
			exe, err := selfexe.Path()
			if err != nil {
				exe = args[0]
			}
			cmd := &exec.Cmd{Path: exe, Args: args}
			if len(p.InitFiles) > 0 {
				// Stamped before its initialisation reads them.
				cmd.Env = envlist.Set(os.Environ(), fresh.StampsEnv, fresh.Stamps(p.InitFiles))
			}
			return cmd
		},
		Session: opts,
		Logger:  log,
		Signals: sigs,
		Stderr:  stderr,
	}
	code, err := sup.Serve(context.Background())
	if err != nil {
		return p.abort("%v", err), true
	}
	return code, true
}
