//go:build unix

package cmdsrv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/chg"
	"github.com/cmdsrv/cmdsrv/protocol"
	"github.com/cmdsrv/cmdsrv/unixfork"
)

// isWorker reports whether a unix service's master started this process
// as one of its workers.
func isWorker() bool { return unixfork.IsWorker() }

// runWorker serves as a worker process of the unix services. What kind of
// worker (a plain one, or chg's) comes from the master in the start-up
// message, decoded by package chg (linked in here for chg.Server), with
// the master's ChgOptions.
func (p *Program) runWorker() int {
	w := &unixfork.Worker{
		NewHandler: func(cfg *protocol.Config, log hclog.Logger) (protocol.Handler, error) {
			h, err := p.NewHandler(cfg, log)
			if err != nil {
				return nil, err
			}
			return p.wrap(h, log), nil
		},
		SignalGrace: p.SignalGrace,
	}
	return w.Serve(context.Background())
}

// socketService serves `--cmdserver unix` and `--cmdserver chgunix`.
func (p *Program) socketService(ctx context.Context, st serviceStart) error {
	if st.o.mode == "chgunix" {
		// chg starts it as `serve --no-profile --cmdserver chgunix
		// --address ADDR --daemon-postexec chdir:/` (see chg.Server).
		srv := &chg.Server{
			Address: st.o.address,
			Session: st.opts,
			Logger:  st.log,
			Args0:   os.Args[0],
			Ready:   st.ready,
			Options: p.chgOptions(),
		}
		return serveUntilSignal(ctx, srv, st.log)
	}
	srv := &unixfork.Server{
		Address:  st.o.address,
		Listener: st.listener,
		Session:  st.opts,
		Logger:   st.log,
		Args0:    os.Args[0],
		// A change of an init file hands the master over to a new start
		// of the binary, whose workers read it.
		WatchFiles: p.InitFiles,
		Ready: func() {
			addr := st.o.address
			if st.listener != nil { // socket activation: no --address
				addr = st.listener.Addr().String()
			}
			fmt.Fprintf(p.Stdout, "listening at %s\n", addr)
			st.ready()
		},
	}
	return serveUntilSignal(ctx, srv, st.log)
}

// gracefulServer is what the unix and chg servers share: a serve loop and
// a Shutdown that lets busy workers finish their clients.
type gracefulServer interface {
	ListenAndServe(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// serveUntilSignal runs srv until SIGTERM, SIGINT or SIGHUP, or until ctx
// is done (the daemon layer could not make the service ready), which
// become a graceful Shutdown: busy workers finish their clients. Further
// signals do not cut them short.
func serveUntilSignal(ctx context.Context, srv gracefulServer, log hclog.Logger) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt, syscall.SIGHUP)
	defer signal.Stop(sigs)
	restarts := make(chan os.Signal, 1)
	signal.Notify(restarts, restartSignal)
	defer signal.Stop(restarts)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(context.Background()) }()
wait:
	select {
	case err := <-errc:
		if errors.Is(err, unixfork.ErrServerClosed) {
			return nil
		}
		return err
	case <-restarts:
		if h, ok := srv.(interface {
			HandOver(context.Context, string) error
		}); ok {
			go func() {
				if err := h.HandOver(context.Background(), "serve --restart"); err != nil && !errors.Is(err, unixfork.ErrServerClosed) {
					log.Error("cannot restart: serving on", "error", err)
				}
			}()
		}
		goto wait
	case sig := <-sigs:
		log.Info("shutting down on signal", "signal", sig)
	case <-ctx.Done():
		log.Info("shutting down: the service could not become ready")
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
