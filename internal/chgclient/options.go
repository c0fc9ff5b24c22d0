package chgclient

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// ErrNotRun wraps every error of Run that happened before the command was
// handed to a server: the caller may safely run the command another way.
var ErrNotRun = errors.New("command not handed to a server")

// Options configure Run.
type Options struct {
	// SocketPath is the server's socket name (chg's CHGSOCKNAME).
	SocketPath string
	// ServerCommand returns the command that starts a server listening at
	// address, when none answers. nil: never start one.
	ServerCommand func(address string) *exec.Cmd
	// Args is the command line to run.
	Args []string
	// Env is the environment to pass (nil: os.Environ()).
	Env []string
	// Dir is the working directory to pass ("": the current one).
	Dir string
	// Stdio are the descriptors to pass (zero: os.Stdin, os.Stdout, os.Stderr).
	Stdio Stdio
	// Timeout bounds the wait for a started server (0: $CHGTIMEOUT or 60 s).
	Timeout time.Duration
	// Debugf, if set, receives debug lines.
	Debugf func(format string, args ...any)
	// ExitAfter tells that the caller exits as soon as Run returns, as a
	// chg client does: Run then leaves the forwarded signals caught
	// instead of spending the time to restore them (or to finish catching
	// them), and a signal that comes before the exit is discarded.
	// Without it, Run gives the signals back their handling, SIGTSTP's
	// default action included (on Linux amd64 and arm64; elsewhere, where
	// that cannot be restored under the Go runtime, SIGTSTP is then not
	// forwarded: Ctrl-Z stops the caller alone).
	ExitAfter bool
}

func (o *Options) fill() error {
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("getting working directory: %w", err)
		}
		o.Dir = wd
	}
	if o.Stdio.Stdin == nil {
		o.Stdio = Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
		if s, err := strconv.Atoi(os.Getenv("CHGTIMEOUT")); err == nil && s > 0 {
			o.Timeout = time.Duration(s) * time.Second
		}
	}
	if o.Debugf == nil {
		o.Debugf = func(string, ...any) {}
	}
	return nil
}

// Stdio are the descriptors passed to the server with attachio.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

// ErrForeignDir reports a socket directory owned by another user or open
// to others; the client refuses it rather than talk to someone else's
// server.
var ErrForeignDir = errors.New("socket directory not private")
