//go:build unix

package cmdsrv

import (
	"os"
	"path/filepath"

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
	return p.runService(o, cfg, func(log hclog.Logger, ready func()) error {
		srv := &chg.Server{Address: addr, Config: cfg, Logger: log, Args0: os.Args[0], Ready: ready, Options: p.ChgOptions}
		return serveUntilSignal(srv, log)
	})
}
