package cmdsrv

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

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
		srv := &chg.Server{Address: addr, Config: cfg, Logger: log, Args0: os.Args[0], Ready: ready, Options: p.ChgOptions}
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
	return p.runService(o, cfg, bindAndServe)
}
