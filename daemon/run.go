//go:build unix

package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// Service says how a socket service runs, in plain values read from its
// command line and configuration by the caller.
type Service struct {
	// Daemon is --daemon: without Postexec this process is the parent,
	// which re-executes the program detached and returns once the child
	// is ready.
	Daemon bool
	// Postexec holds the --daemon-postexec values; any value (none
	// included) makes this process the detached child.
	Postexec []string
	// PIDFile is where the serving pid goes once ready ("": nowhere);
	// AppendPID adds a line instead of replacing the file.
	PIDFile   string
	AppendPID bool
	// LogPath is the log file ("": none), rotated after MaxLogSize bytes
	// into at most MaxLogFiles files.
	LogPath     string
	MaxLogSize  int64
	MaxLogFiles int
	// Args0 and Args are the command line the parent re-executes: the
	// caller's os.Args[0] (a program that picks its role from its name
	// stays the same program) and its arguments after it.
	Args0 string
	Args  []string
	// Stderr is where the parent relays the child's messages until it is
	// ready; nil: discarded.
	Stderr io.Writer
}

// Serving is what Run hands the serve callback.
type Serving struct {
	// Log is the open log file, nil without Service.LogPath. Once this
	// process has detached, its stray stdout and stderr follow the file
	// across rotations.
	Log io.Writer
	// Detaching reports that this process is the detached child: its
	// stdio still reaches whoever started it until Ready.
	Detaching bool
	// Ready must be called once, when the socket accepts connections.
	Ready func()
}

// Run runs a socket service in its role, as Mercurial's runservice does:
//   - Daemon without Postexec: the parent. It re-executes the program as a
//     detached child, waits until the child is ready, writes the child's
//     pid to PIDFile and returns nil without calling serve; if the child
//     dies first, its messages have been relayed to Stderr and Run returns
//     an error wrapping ErrChildFailed.
//   - Postexec given (by the parent above, or by chg): the detached child.
//     Once ready it writes its pid file (unless Daemon: the parent does),
//     starts a new session, runs chdir:, points stdio at /dev/null or the
//     log file and removes the unlink: lock file.
//   - neither: a foreground service that keeps its stdio and writes its
//     own pid file once ready.
//
// serve binds the socket, calls Serving.Ready once it accepts connections
// and serves until it shuts down or ctx is done: Run cancels ctx when
// becoming ready fails (a pid file that cannot be written, a chdir: to a
// missing directory), waits for serve to return and returns that error.
// Output meant for the caller (a "listening at" line) goes out before
// Serving.Ready, while stdio still reaches it.
func Run(ctx context.Context, s Service, serve func(ctx context.Context, sv Serving) error) error {
	pe, err := ParsePostexec(s.Postexec)
	if err != nil {
		return err
	}
	if s.Daemon && !pe.Present {
		return spawnParent(s)
	}

	var logFile *LogFile
	if s.LogPath != "" {
		if logFile, err = OpenLog(s.LogPath, s.MaxLogSize, s.MaxLogFiles); err != nil {
			return err
		}
		defer logFile.Close()
	}
	var pidFile *PIDFile
	if s.PIDFile != "" && !s.Daemon { // with Daemon the parent writes it
		if pidFile, err = OpenPIDFile(s.PIDFile, s.AppendPID); err != nil {
			return err
		}
	}
	var detached atomic.Bool
	if logFile != nil && pe.Present {
		// After a rotation, stray writes to stdout and stderr follow the
		// log to its new file; before Detach they still go to our caller.
		logFile.OnRotate = func(f *os.File) error {
			if !detached.Load() {
				return nil
			}
			return RedirectOutput(f)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once     sync.Once
		readyErr error
	)
	sv := Serving{Detaching: pe.Present}
	if logFile != nil {
		sv.Log = logFile
	}
	sv.Ready = func() {
		once.Do(func() {
			readyErr = becomeReady(pe, pidFile, logFile, &detached)
			if readyErr != nil {
				cancel()
			}
		})
	}
	err = serve(ctx, sv)
	if readyErr != nil {
		return readyErr
	}
	return err
}

// spawnParent is the parent of `serve --daemon`.
func spawnParent(s Service) error {
	var pidFile *PIDFile
	if s.PIDFile != "" {
		var err error
		if pidFile, err = OpenPIDFile(s.PIDFile, s.AppendPID); err != nil {
			return err
		}
	}
	sp := &Spawn{Args0: s.Args0, Args: s.Args, Stderr: s.Stderr}
	pid, err := sp.Start()
	if err != nil {
		return err
	}
	if pidFile != nil {
		return pidFile.Write(pid)
	}
	return nil
}

// becomeReady runs once the socket accepts connections: the pid file,
// then for a detached child the postexec instructions.
func becomeReady(pe Postexec, pidFile *PIDFile, logFile *LogFile, detached *atomic.Bool) error {
	if pidFile != nil {
		if err := pidFile.Write(os.Getpid()); err != nil {
			return err
		}
	}
	if !pe.Present {
		return nil
	}
	var out *os.File
	if logFile != nil {
		out = logFile.File()
	}
	if err := Detach(pe, out); err != nil {
		return fmt.Errorf("detaching: %w", err)
	}
	detached.Store(true)
	return nil
}
