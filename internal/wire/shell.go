package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// shellWaitDelay bounds how long RunShell waits for the output pipes after
// the shell exited or was interrupted.
const shellWaitDelay = time.Second

// Shell is where RunShell runs a command.
type Shell struct {
	Dir    string
	Env    []string
	Stdin  *os.File // nil: no input
	Stdout io.Writer
	Stderr io.Writer
}

// RunShell runs cmd with /bin/sh -c in sh's directory and environment, its
// output going to sh's streams, and returns its exit status (minus the
// signal number when a signal killed it, as chg reports it).
func RunShell(ctx context.Context, sh Shell, cmd string) (int, error) {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	c.Dir, c.Env = sh.Dir, sh.Env
	c.Stdout, c.Stderr = sh.Stdout, sh.Stderr
	if sh.Stdin != nil {
		c.Stdin = sh.Stdin
	}
	// A child left running in the background (or by an interrupted shell)
	// keeps the output pipes open: do not wait for it past this delay.
	c.WaitDelay = shellWaitDelay
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay) && c.ProcessState != nil:
		return ExitCode(c.ProcessState), nil
	case errors.As(err, &ee):
		return ExitCode(ee.ProcessState), nil
	}
	return 127, fmt.Errorf("running %q: %w", cmd, err)
}

// ExitCode turns a process state into a shell-style status: the exit code,
// or minus the signal number when a signal ended the process.
func ExitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return ps.ExitCode()
}

// LookupEnv finds name in an environment list of "NAME=VALUE" entries; the
// last entry wins, as in the os package.
func LookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
