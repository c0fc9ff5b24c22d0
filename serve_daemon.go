package cmdsrv

import (
	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// runService runs a socket service (unix or chgunix) under the daemon
// layer. bindAndServe binds the socket, calls ready once it accepts
// connections, and serves until shutdown; log is the server's logger.
//
// This first version has no daemon layer: it only refuses --daemon.
func (p *Program) runService(o serveOptions, cfg *protocol.Config, bindAndServe func(log hclog.Logger, ready func()) error) int {
	if o.daemon || len(o.postexec) > 0 {
		return p.abort("--daemon is not built yet in this version of cmdsrv")
	}
	log := p.newLogger(hclog.Info)
	if err := bindAndServe(log, func() {}); err != nil {
		return p.abort("%v", err)
	}
	return 0
}
