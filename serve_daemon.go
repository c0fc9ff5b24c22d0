//go:build unix

package cmdsrv

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/daemon"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// runService runs a socket service (unix or chgunix) under the daemon
// layer. bindAndServe binds the socket, calls ready once it accepts
// connections, and serves until shutdown; log is the server's logger.
//
// Three roles, as in Mercurial's runservice:
//   - `--daemon` without --daemon-postexec: the parent. It re-executes
//     this program (os.Args) as a detached child, waits until the child's
//     socket accepts connections, writes the child's pid to --pid-file and
//     returns 0; if the child dies first, its messages have been relayed to
//     our stderr and we abort.
//   - --daemon-postexec given (by the parent above, or by chg): the
//     detached child. Once ready it writes its pid file (unless --daemon:
//     the parent does), starts a new session, runs chdir:, points stdio at
//     /dev/null or the log file and removes the unlink: lock file.
//   - neither: a foreground server that keeps its stdio and writes its
//     own pid file once ready.
//
// cmdserver.pid-file-append=true appends the pid line instead of replacing
// the file.
func (p *Program) runService(o serveOptions, cfg *protocol.Config, bindAndServe func(log hclog.Logger, ready func()) error) int {
	pe, err := daemon.ParsePostexec(o.postexec)
	if err != nil {
		return p.abort("%v", err)
	}
	lc, err := daemon.ReadLogConfig(cfg)
	if err != nil {
		return p.abort("%v", err)
	}
	appendPID, err := cfg.Bool("cmdserver.pid-file-append", false)
	if err != nil {
		return p.abort("%v", err)
	}
	if o.daemon && !pe.Present {
		if l, _ := daemon.ActivationListener(); l != nil {
			return p.abort("--daemon cannot be used with a socket passed by systemd")
		}
		return p.spawnDaemon(o.pidFile, appendPID)
	}
	return p.serveDetachable(o, pe, lc, appendPID, bindAndServe)
}

// spawnDaemon is the parent of `serve --daemon`.
func (p *Program) spawnDaemon(pidPath string, appendPID bool) int {
	var pidFile *daemon.PIDFile
	if pidPath != "" {
		var err error
		if pidFile, err = daemon.OpenPIDFile(pidPath, appendPID); err != nil {
			return p.abort("%v", err)
		}
		defer pidFile.Close()
	}
	s := &daemon.Spawn{Args0: os.Args[0], Args: os.Args[1:], Stderr: p.Stderr}
	pid, err := s.Start()
	if err != nil {
		return p.abort("%v", err)
	}
	if pidFile != nil {
		if err := pidFile.Write(pid); err != nil {
			return p.abort("%v", err)
		}
	}
	return 0
}

// serveDetachable serves in this process: in the foreground, or as the
// detached child when pe is present.
func (p *Program) serveDetachable(o serveOptions, pe daemon.Postexec, lc daemon.LogConfig, appendPID bool, bindAndServe func(hclog.Logger, func()) error) int {
	level := hclog.Info
	if pe.Present {
		// Without cmdserver.log, a daemon's stderr is its caller's terminal
		// until it detaches (chg's user's, say): only warnings belong
		// there, as hg logs nothing then.
		level = hclog.Warn
	}
	log := p.newLogger(level)
	var logFile *daemon.LogFile
	switch lc.Path {
	case "":
	case "-":
		// The master's events; a worker sends its session's events to
		// that session's 'd' channel (unixfork reads cmdserver.log too).
		log = daemon.NewLogger(p.Name, &daemon.LogWriter{Out: p.Stderr, Root: p.Name, Tracked: lc.Tracked}, logLevel())
	default:
		var err error
		if logFile, err = daemon.OpenLog(lc.Path, lc.MaxSize, lc.MaxFiles); err != nil {
			return p.abort("%v", err)
		}
		defer logFile.Close()
		log = daemon.NewLogger(p.Name, &daemon.LogWriter{Out: logFile, Root: p.Name, Tracked: lc.Tracked}, logLevel())
	}

	var pidFile *daemon.PIDFile
	if o.pidFile != "" && !o.daemon { // with --daemon the parent writes it
		var err error
		if pidFile, err = daemon.OpenPIDFile(o.pidFile, appendPID); err != nil {
			return p.abort("%v", err)
		}
		defer pidFile.Close()
	}

	var detached atomic.Bool
	if logFile != nil && pe.Present {
		// After a rotation, stray writes to stdout and stderr follow the
		// log to its new file; before Detach they still go to our caller.
		logFile.OnRotate = func(f *os.File) error {
			if !detached.Load() {
				return nil
			}
			return daemon.RedirectOutput(f)
		}
	}

	var (
		once     sync.Once
		readyErr error
	)
	ready := func() {
		once.Do(func() {
			readyErr = p.becomeReady(pe, pidFile, logFile, &detached)
			if readyErr == nil {
				return
			}
			// Our stdio still reaches the caller (and a daemon's parent
			// relays it). SIGTERM is how the service is told to shut
			// down; ready has no other way back to bindAndServe.
			p.abort("%v", readyErr)
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		})
	}
	err := bindAndServe(log, ready)
	if readyErr != nil {
		return 255
	}
	if err != nil {
		return p.abort("%v", err)
	}
	return 0
}

// becomeReady runs once the socket accepts connections: the pid file,
// then for a detached child the postexec instructions.
func (p *Program) becomeReady(pe daemon.Postexec, pidFile *daemon.PIDFile, logFile *daemon.LogFile, detached *atomic.Bool) error {
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
	if err := daemon.Detach(pe, out); err != nil {
		return fmt.Errorf("detaching: %w", err)
	}
	detached.Store(true)
	return nil
}

func logLevel() hclog.Level {
	if env := os.Getenv("CMDSRV_LOG_LEVEL"); env != "" {
		return hclog.LevelFromString(env)
	}
	return hclog.Info
}
