package cmdsrv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/chg"
	"github.com/cmdsrv/cmdsrv/protocol"
	"github.com/cmdsrv/cmdsrv/unixfork"
)

// runWorker serves as a worker process of the unix services when this
// process was started as one; ok is false otherwise.
func (p *Program) runWorker(args []string) (code int, ok bool) {
	mode, ok := unixfork.WorkerMode()
	if !ok {
		return 0, false
	}
	w := &unixfork.Worker{
		NewHandler: func(cfg *protocol.Config, log hclog.Logger) (protocol.Handler, error) {
			h, err := p.NewHandler(cfg, log)
			if err != nil {
				return nil, err
			}
			if mode == "chgunix" {
				chg.Prewarm(cfg, p.ChgOptions)
			}
			return p.wrap(h, log), nil
		},
		Extend: p.workerExtension(mode),
	}
	return w.Serve(context.Background()), true
}

// workerExtension returns the session extension of a worker mode: none for
// "unix", chg's commands for "chgunix".
func (p *Program) workerExtension(mode string) func(*protocol.Session, *net.UnixConn) {
	switch mode {
	case "chgunix":
		return chg.WorkerExtend(p.ChgOptions)
	default:
		return nil
	}
}

func (p *Program) serveUnix(o serveOptions, cfg *protocol.Config) int {
	if o.address == "" && o.listener == nil {
		return p.abort("no socket path specified with --address")
	}
	if o.address != "" {
		// The socket path must survive the chdir of --daemon-postexec.
		abs, err := filepath.Abs(o.address)
		if err != nil {
			return p.abort("%v", err)
		}
		o.address = abs
	}
	dir, err := checkServeOptions(o, cfg)
	if err != nil {
		return p.abort("%v", err)
	}
	if p.unixService != nil {
		return p.runService(o, cfg, p.unixService(o))
	}
	return p.runService(o, cfg, func(log hclog.Logger, ready func()) error {
		srv := &unixfork.Server{
			Address:   o.address,
			Listener:  o.listener,
			Config:    cfg,
			Logger:    log,
			Mode:      "unix",
			Args0:     os.Args[0],
			Dir:       dir,
			Traceback: o.traceback,
			Ready: func() {
				addr := o.address
				if o.listener != nil { // socket activation: no --address
					addr = o.listener.Addr().String()
				}
				fmt.Fprintf(p.Stdout, "listening at %s\n", addr)
				ready()
			},
		}
		return serveUntilSignal(srv, log)
	})
}

// gracefulServer is what the unix and chg servers share: a serve loop and
// a Shutdown that lets busy workers finish their clients.
type gracefulServer interface {
	ListenAndServe(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// serveUntilSignal runs srv until SIGTERM, SIGINT or SIGHUP, which become
// a graceful Shutdown: busy workers finish their clients. Further signals
// do not cut them short.
func serveUntilSignal(srv gracefulServer, log hclog.Logger) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt, syscall.SIGHUP)
	defer signal.Stop(sigs)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(context.Background()) }()
	select {
	case err := <-errc:
		if errors.Is(err, unixfork.ErrServerClosed) {
			return nil
		}
		return err
	case sig := <-sigs:
		log.Info("shutting down on signal", "signal", sig)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			if err := <-errc; !errors.Is(err, unixfork.ErrServerClosed) {
				return err
			}
			return nil
		case sig := <-sigs:
			log.Warn("already shutting down; waiting for busy workers", "signal", sig)
		case <-time.After(5 * time.Second):
			log.Info("still waiting for busy workers")
		}
	}
}
