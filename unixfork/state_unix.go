//go:build unix

package unixfork

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/envlist"
	"github.com/cmdsrv/cmdsrv/internal/sigaction"
	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

// procState is the process-wide state a client's commands may change and
// that a reused worker puts back before serving anyone else: working
// directory, environment, umask, fds 0-2, process title and signal
// dispositions (Go keeps these per process, not per goroutine).
type procState struct {
	dir   string
	env   []string
	umask int
	stdio *sysfd.SavedStdio
	title string // "" when it cannot be read here
	// ignored are the catchable signals ignored at start-up (nohup);
	// the others had their default disposition.
	ignored map[unix.Signal]bool
}

// catchable lists the signals whose disposition a command may change
// (SIGPROF belongs to the profiler, SIGKILL and SIGSTOP cannot change).
func catchable() []unix.Signal {
	var sigs []unix.Signal
	for sig := unix.Signal(1); sig < 32; sig++ {
		if sig != unix.SIGKILL && sig != unix.SIGSTOP && sig != unix.SIGPROF {
			sigs = append(sigs, sig)
		}
	}
	return sigs
}

// jobControl are the signals the Go runtime leaves at their default
// until a program asks for them: after signal.Notify its handler stays
// installed through signal.Reset and drops the signal, so a worker that
// put them through Notify and Reset would no longer stop on Ctrl-Z.
var jobControl = map[unix.Signal]bool{unix.SIGTSTP: true, unix.SIGTTIN: true, unix.SIGTTOU: true, unix.SIGCONT: true}

// snapshotState records the current state. It is taken at worker start,
// before the Handler is built.
func snapshotState() (*procState, error) {
	st := &procState{}
	var err error
	if st.dir, err = os.Getwd(); err != nil {
		return nil, fmt.Errorf("getting working directory: %w", err)
	}
	st.env = os.Environ()
	st.umask = unix.Umask(0o077)
	unix.Umask(st.umask)
	if st.stdio, err = sysfd.SaveStdio(); err != nil {
		return nil, err
	}
	st.title = readTitle()
	st.ignored = make(map[unix.Signal]bool)
	for _, sig := range catchable() {
		if signal.Ignored(sig) {
			st.ignored[sig] = true
		}
	}
	return st, nil
}

// restore puts the recorded state back. All steps are tried; the errors
// are joined. A worker that cannot restore its state must not be reused.
func (st *procState) restore(resetSignals func()) error {
	var errs []error
	if err := os.Chdir(st.dir); err != nil {
		errs = append(errs, fmt.Errorf("restoring working directory: %w", err))
	}
	if err := envlist.Replace(st.env); err != nil {
		errs = append(errs, fmt.Errorf("restoring environment: %w", err))
	}
	unix.Umask(st.umask)
	if err := st.stdio.Restore(); err != nil {
		errs = append(errs, err)
	}
	if st.title != "" {
		if err := writeTitle(st.title); err != nil {
			errs = append(errs, fmt.Errorf("restoring process title: %w", err))
		}
	}
	// A command may have called signal.Notify or signal.Ignore. Reset
	// alone does not undo Ignore (the runtime leaves SIG_IGN in place for
	// signals it handles), but Notify reinstalls the runtime's handler and
	// a Reset after it gives the default back. Signals ignored at
	// start-up are ignored again. Then the worker's own handling returns.
	tmp := make(chan os.Signal, 1)
	var sigs []os.Signal
	for _, sig := range catchable() {
		if !st.ignored[sig] && !jobControl[sig] {
			sigs = append(sigs, sig)
		}
	}
	signal.Notify(tmp, sigs...)
	signal.Reset()
	for sig := range st.ignored {
		signal.Ignore(sig)
	}
	// A command that caught or ignored a job-control signal left it in a
	// state Reset cannot undo: such a worker is not reused.
	for sig := range jobControl {
		if st.ignored[sig] {
			continue
		}
		if act, err := sigaction.Get(syscall.Signal(sig)); err == nil && !act.IsDefault() {
			errs = append(errs, fmt.Errorf("restoring signal %v: a command changed its handling", sig))
		}
	}
	if resetSignals != nil {
		resetSignals()
	}
	return errors.Join(errs...)
}

func (st *procState) close() {
	if st.stdio != nil {
		st.stdio.Close()
	}
}
