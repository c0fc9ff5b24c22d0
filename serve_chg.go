package cmdsrv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/chg"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// serveChg serves `--cmdserver chgunix`, the server the chg client starts
// as `serve --no-profile --cmdserver chgunix --address ADDR
// --daemon-postexec chdir:/` (see chg.Server).
func (p *Program) serveChg(o serveOptions, cfg *protocol.Config) int {
	if o.address == "" {
		return p.abort("--cmdserver chgunix needs --address")
	}
	// The socket path must survive the chdir of --daemon-postexec.
	addr, err := filepath.Abs(o.address)
	if err != nil {
		return p.abort("%v", err)
	}
	bindAndServe := func(log hclog.Logger, ready func()) error {
		srv := &chg.Server{Address: addr, Config: cfg, Logger: log, Args0: os.Args[0], Ready: ready}
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		defer signal.Stop(sigs)
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case sig := <-sigs:
				log.Info("shutting down", "signal", sig.String())
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = srv.Shutdown(ctx)
			case <-done:
			}
		}()
		err := srv.ListenAndServe(context.Background())
		if errors.Is(err, chg.ErrServerClosed) {
			return nil
		}
		return err
	}
	// TODO(merge): call p.runService (serve_daemon.go) instead once the
	// daemon layer handles --daemon-postexec; runChgService is a minimal
	// stand-in for it.
	return p.runChgService(o, bindAndServe)
}

// runChgService runs bindAndServe in the foreground or, with
// --daemon-postexec (how chg starts its server), detaches once the socket
// is bound, so that a failure to bind still reaches chg's stderr and exit
// status, as with hg.
func (p *Program) runChgService(o serveOptions, bindAndServe func(hclog.Logger, func()) error) int {
	if o.daemon && len(o.postexec) == 0 {
		return p.abort("--daemon is not supported with --cmdserver chgunix yet: chg starts and detaches its server itself")
	}
	post, err := parsePostexec(o.postexec)
	if err != nil {
		return p.abort("%v", err)
	}
	log := p.newLogger(hclog.Info)
	ready := func() {}
	if len(o.postexec) > 0 {
		ready = func() {
			if err := post.detach(); err != nil {
				log.Warn("detaching", "error", err)
			}
		}
	}
	if err := bindAndServe(log, ready); err != nil {
		return p.abort("%v", err)
	}
	return 0
}

// postexec holds the --daemon-postexec instructions of a process that chg
// (or hg's own --daemon) started as the detached child.
type postexec struct {
	chdir, unlink string
}

func parsePostexec(insts []string) (postexec, error) {
	var pe postexec
	for _, in := range insts {
		switch {
		case strings.HasPrefix(in, "chdir:"):
			pe.chdir = in[len("chdir:"):]
		case strings.HasPrefix(in, "unlink:"):
			pe.unlink = in[len("unlink:"):]
		case in == "none":
		default:
			return pe, fmt.Errorf("invalid value for --daemon-postexec: %s", in)
		}
	}
	return pe, nil
}

// detach makes this process a daemon the way hg's --daemon-postexec does:
// a session of its own (so the terminal's signals and hangup do not reach
// it), the working directory given, stdio on /dev/null, and the start-up
// lock file removed last.
//
// This is a minimal stand-in until the daemon layer (serve_daemon.go's
// runService) handles --daemon-postexec for every service.
func (pe postexec) detach() error {
	_, _ = syscall.Setsid() // EPERM when already a group leader: keep going
	if pe.chdir != "" {
		if err := os.Chdir(pe.chdir); err != nil {
			return fmt.Errorf("changing directory to %s: %w", pe.chdir, err)
		}
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", os.DevNull, err)
	}
	defer null.Close()
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(null.Fd()), fd, 0); err != nil {
			return fmt.Errorf("redirecting fd %d: %w", fd, err)
		}
	}
	if pe.unlink != "" {
		_ = os.Remove(pe.unlink)
	}
	return nil
}
