package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// shellWaitDelay bounds how long RunShell waits for the output pipes after
// the shell exited or was interrupted.
const shellWaitDelay = time.Second

// hangupGrace is how long the processes of an interrupted shell command
// have between SIGHUP and SIGKILL.
const hangupGrace = time.Second

// Shell is where RunShell runs a command.
type Shell struct {
	Dir    string
	Env    []string
	Stdin  *os.File // nil: no input
	Stdout io.Writer
	Stderr io.Writer
}

// RunShell runs cmd with /bin/sh -c (on Windows with %COMSPEC% /c, which is
// cmd.exe) in sh's directory and environment, its output going to sh's
// streams, and returns its exit status (minus the signal number when a
// signal killed it, as chg reports it).
//
// It is for a server, where no terminal stands behind the command: the
// shell leads a process group of its own, and when ctx ends (the client
// interrupted the command or went away) every process of that group gets
// SIGHUP, as from a terminal that hangs up, then SIGKILL if any is left
// after a second; RunShell returns once they are gone. Where the command
// does not run in its own process group (elsewhere than on unix), only
// the shell is killed.
func RunShell(ctx context.Context, sh Shell, cmd string) (int, error) {
	return runShell(ctx, sh, cmd, true)
}

// RunShellForeground is RunShell for a command run on the caller's own
// terminal (a direct run, or chg's client running the server's system
// request): the shell stays in the caller's process group, the terminal's
// foreground job, so the terminal's Ctrl-C, Ctrl-Z and hang-up reach every
// process of the command directly, and it may read the terminal. When ctx
// ends, the shell is killed.
func RunShellForeground(ctx context.Context, sh Shell, cmd string) (int, error) {
	return runShell(ctx, sh, cmd, false)
}

func runShell(ctx context.Context, sh Shell, cmd string, ownGroup bool) (int, error) {
	c := shellCommand(ctx, sh, cmd)
	c.Dir, c.Env = sh.Dir, sh.Env
	c.Stdout, c.Stderr = sh.Stdout, sh.Stderr
	if sh.Stdin != nil {
		c.Stdin = sh.Stdin
	}
	// A child left running in the background (or by an interrupted shell)
	// keeps the output pipes open: do not wait for it past this delay.
	c.WaitDelay = shellWaitDelay
	var hungUp chan struct{} // closed once an interrupted group is gone
	grouped := ownGroup && setOwnGroup(c)
	if grouped {
		c.Cancel = func() error {
			hungUp = make(chan struct{})
			go func() {
				defer close(hungUp)
				hangUpGroup(c.Process.Pid, hangupGrace)
			}()
			return nil
		}
	}
	err := c.Start()
	if err == nil {
		if grouped {
			liveShells.add(c.Process.Pid)
		}
		err = c.Wait()
		if grouped {
			liveShells.remove(c.Process.Pid)
		}
	}
	if hungUp != nil {
		// Cancel ran before Wait returned (Wait waits for the goroutine
		// that calls it), so this read is ordered after its write.
		<-hungUp
	}
	var ee *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay) && c.ProcessState != nil:
		return shellStatus(c.ProcessState), nil
	case errors.As(err, &ee):
		return shellStatus(ee.ProcessState), nil
	case ctx.Err() != nil && c.ProcessState != nil:
		// Interrupted, yet the shell exited 0 (it ignored the hang-up).
		return shellStatus(c.ProcessState), nil
	}
	return 127, fmt.Errorf("running %q: %w", cmd, err)
}

// liveShells are the process groups of the shells RunShell is running
// (a server's; a client runs RunShellForeground and never fills it, nor
// pays for it at start-up).
var liveShells shellGroups

type shellGroups struct {
	mu    sync.Mutex
	pgids map[int]struct{}
	watch func(pgid int, running bool)
}

func (g *shellGroups) add(pgid int) {
	g.mu.Lock()
	if g.pgids == nil {
		g.pgids = make(map[int]struct{})
	}
	g.pgids[pgid] = struct{}{}
	watch := g.watch
	g.mu.Unlock()
	if watch != nil {
		watch(pgid, true)
	}
}

// remove forgets pgid and reports its end, once: HangUpShells may have
// done so already.
func (g *shellGroups) remove(pgid int) {
	g.mu.Lock()
	_, ok := g.pgids[pgid]
	delete(g.pgids, pgid)
	watch := g.watch
	g.mu.Unlock()
	if ok && watch != nil {
		watch(pgid, false)
	}
}

// WatchShells has f called with the process group of every shell RunShell
// starts in this process (running true) and again once it has ended: a
// worker tells its master, which hangs up what a worker killed outright
// (SIGKILL, which HangUpShells cannot catch) left running.
func WatchShells(f func(pgid int, running bool)) {
	liveShells.mu.Lock()
	liveShells.watch = f
	liveShells.mu.Unlock()
}

// HangUpShells ends the process groups of the shells RunShell is running
// in this process as RunShell does when its context ends (SIGHUP and
// SIGCONT, SIGKILL after grace), all at once, and returns when they are
// gone. A process that is about to exit (a worker told to terminate)
// calls it, so that no shell of its outlives it writing to a client's
// descriptors. The shells' RunShell calls then return as if interrupted.
func HangUpShells(grace time.Duration) {
	liveShells.mu.Lock()
	pgids := make([]int, 0, len(liveShells.pgids))
	for pgid := range liveShells.pgids {
		pgids = append(pgids, pgid)
	}
	liveShells.mu.Unlock()
	HangUpGroups(pgids, grace)
	// Reported ended now, not when their RunShell calls get to it: the
	// process may exit first.
	for _, pgid := range pgids {
		liveShells.remove(pgid)
	}
}

// HangUpGroups ends the process groups pgids as RunShell ends its
// shell's (SIGHUP and SIGCONT, SIGKILL after grace), all at once, and
// returns when they are gone.
func HangUpGroups(pgids []int, grace time.Duration) {
	var wg sync.WaitGroup
	for _, pgid := range pgids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hangUpGroup(pgid, grace)
		}()
	}
	wg.Wait()
}

// shellStatus turns a process state into a shell-style status: the exit code,
// or minus the signal number when a signal ended the process.
func shellStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return ps.ExitCode()
}
