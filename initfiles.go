package cmdsrv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/internal/chgclient"
	"github.com/cmdsrv/cmdsrv/internal/fresh"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// initFiles follows Program.InitFiles in a server's process: what its
// packages read as they initialised cannot be read again in it.
type initFiles struct {
	set   fresh.Set
	stale atomic.Bool // sticky: the process's state stays old
	// mu guards why, the change found, and logged, whether it was said.
	mu     sync.Mutex
	why    string
	logged bool
}

// newInitFiles fingerprints paths as Main starts, just after the
// initialisation that read them; nil when there are none. The process
// that started this one stamped them before the exec (fresh.StampsEnv):
// one changed since has changed under the initialisation, which may have
// read either version, so the state is stale from the start.
func newInitFiles(paths []string) *initFiles {
	stamps, stamped := os.LookupEnv(fresh.StampsEnv)
	if stamped {
		_ = os.Unsetenv(fresh.StampsEnv) // not for the commands
	}
	f := &initFiles{}
	for _, p := range paths {
		if p != "" {
			f.set.Add("", fresh.Dep{Kind: fresh.File, Name: p})
		}
	}
	if f.set.Len() == 0 {
		return nil
	}
	if path, changed := fresh.StampsChanged(stamps); stamped && changed {
		f.why = "file " + path + " (as this process started)"
		f.stale.Store(true)
	}
	return f
}

// changed reports whether one of the files changed since Main started.
func (f *initFiles) changed(log hclog.Logger) bool {
	if f == nil {
		return false
	}
	if f.stale.Load() {
		f.say(log, "")
		return true
	}
	c, changed := f.set.Check()
	if changed {
		f.stale.Store(true)
		f.say(log, c.String())
	}
	return changed
}

// isStale reports what the last check found, checking nothing: a
// command's ServeCommand follows its ClientProcessFor's check.
func (f *initFiles) isStale() bool { return f != nil && f.stale.Load() }

// say logs the change once; why, if set, is what changed.
func (f *initFiles) say(log hclog.Logger, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if why != "" && f.why == "" {
		f.why = why
	}
	if !f.logged {
		f.logged = true
		log.Info("a file read at initialisation changed: commands run in a new start of the program", "changed", f.why)
	}
}

// chgOptions are the ChgOptions a chgunix server runs with: the init
// files outdate it too, so that chg's validate finds their change and the
// server hands over to a new start of the binary.
func (p *Program) chgOptions() *ChgOptions {
	if len(p.InitFiles) == 0 {
		return p.ChgOptions
	}
	o := ChgOptions{}
	if p.ChgOptions != nil {
		o = *p.ChgOptions
	}
	for _, f := range p.InitFiles {
		if f != "" {
			o.MtimePaths = append(o.MtimePaths[:len(o.MtimePaths):len(o.MtimePaths)], f)
		}
	}
	return &o
}

// runFresh runs a command of a server whose init files changed in a new
// start of the program, a direct run in the command's lent process state
// (os.Args, fds 0-2, directory, environment), whose initialisation reads
// the files as they are now: its output and status are the plain run's,
// an exit during its initialisation included. A pipe server's child then
// ends with that status, as a command's os.Exit would: its supervising
// parent answers the client and starts a child that reads the files
// again. A unix or chg worker returns it: its master watches the files
// and hands over to a new start of the binary on its own (an exit would
// race that hand-over, which does not carry the answer its master owes
// the client), and a worker found stale serves each command so until it
// is replaced. Windows has no supervisor: there it is returned too.
func (a *appHandler) runFresh(ctx context.Context, req *protocol.Request) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(req.Stderr, "abort: finding the program to start again: %v\n", err)
		return 255
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), chgclient.ClientEnv+"=off")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(req.Stderr, "abort: starting the program again: %v\n", err)
		return 255
	}
	waited := make(chan struct{})
	go func() {
		// A signal that interrupts the command is the new start's.
		select {
		case <-ctx.Done():
			var se *protocol.SignalError
			if errors.As(context.Cause(ctx), &se) {
				_ = cmd.Process.Signal(se.Signal)
			}
		case <-waited:
		}
	}()
	_ = cmd.Wait()
	close(waited)
	ps := cmd.ProcessState
	replace := replacesProcess && req.Mode == protocol.ModePipe
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		if replace {
			raiseDefault(ws.Signal(), req.Stderr)
		}
		return 128 + int(ws.Signal())
	}
	if replace {
		os.Exit(ps.ExitCode())
	}
	return ps.ExitCode()
}
