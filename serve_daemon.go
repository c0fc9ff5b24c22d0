//go:build unix

package cmdsrv

import (
	"context"
	"net"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/daemon"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// runService runs a socket service (unix or chgunix) in the role
// daemon.Run gives it: the parent of --daemon, the detached child, or a
// foreground server. It reads the daemon layer's settings from the
// configuration here, so that package daemon deals in plain values.
func (p *Program) runService(o serverArgs, cfg *protocol.Config, service socketService) int {
	// A unix service may get its socket from systemd; chg binds its own,
	// named after its hashes, so a chgunix service never asks.
	var l *net.UnixListener
	var err error
	if o.mode == "unix" {
		if l, err = daemon.ActivationListener(); err != nil {
			return p.abort("%v", err)
		}
	}
	if l == nil {
		if o.address == "" {
			return p.abort("no socket path specified with --address")
		}
		// The socket path must survive the chdir of --daemon-postexec.
		if o.address, err = filepath.Abs(o.address); err != nil {
			return p.abort("%v", err)
		}
	}
	opts, err := p.sessionOptions(o, cfg)
	if err != nil {
		return p.abort("%v", err)
	}
	svc, logPath, tracked, err := daemonService(o, cfg)
	if err != nil {
		return p.abort("%v", err)
	}
	if o.daemon && len(o.postexec) == 0 && l != nil {
		return p.abort("--daemon cannot be used with a socket passed by systemd")
	}
	svc.Args0, svc.Args, svc.Stderr = os.Args[0], os.Args[1:], p.Stderr
	err = daemon.Run(context.Background(), svc, func(ctx context.Context, sv daemon.Serving) error {
		return service(ctx, serviceStart{
			o: o, opts: opts, listener: l,
			log:   p.serviceLogger(logPath, tracked, sv),
			ready: sv.Ready,
		})
	})
	if err != nil {
		return p.abort("%v", err)
	}
	return 0
}

// daemonService reads the daemon layer's options and keys: --daemon,
// --daemon-postexec, --pid-file, cmdserver.pid-file-append and the log
// keys (cmdserver.log: a file, "-" for stderr, "" for none).
func daemonService(o serverArgs, cfg *protocol.Config) (svc daemon.Service, logPath string, tracked []string, err error) {
	svc = daemon.Service{Daemon: o.daemon, Postexec: o.postexec, PIDFile: o.pidFile}
	if svc.AppendPID, err = cfg.Bool("cmdserver.pid-file-append", false); err != nil {
		return svc, "", nil, err
	}
	logPath = cfg.Get("cmdserver.log", "")
	if svc.MaxLogSize, err = cfg.Bytes("cmdserver.max-log-size", daemon.DefaultMaxLogSize); err != nil {
		return svc, "", nil, err
	}
	if svc.MaxLogFiles, err = cfg.Int("cmdserver.max-log-files", daemon.DefaultMaxLogFiles); err != nil {
		return svc, "", nil, err
	}
	if logPath != "-" {
		svc.LogPath = logPath
	}
	return svc, logPath, daemon.ParseTrackLog(cfg.Get("cmdserver.track-log", "")), nil
}

// serviceLogger is the master's logger: the log file in Mercurial's line
// format, stderr in that format for cmdserver.log=-, else plain hclog on
// stderr.
func (p *Program) serviceLogger(logPath string, tracked []string, sv daemon.Serving) hclog.Logger {
	out := sv.Log
	if out == nil && logPath == "-" {
		// The master's events; a worker sends its session's events to
		// that session's 'd' channel (unixfork reads cmdserver.log too).
		out = p.Stderr
	}
	switch {
	case out != nil:
		return daemon.NewLogger(p.Name, &daemon.LogWriter{Out: out, Root: p.Name, Tracked: tracked}, logLevel(hclog.Info))
	case sv.Detaching:
		// Without cmdserver.log, a daemon's stderr is its caller's terminal
		// until it detaches (chg's user's, say): only warnings belong
		// there, as hg logs nothing then.
		return p.newLogger(hclog.Warn)
	}
	return p.newLogger(hclog.Info)
}
