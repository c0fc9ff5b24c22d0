//go:build !unix

package cmdsrv

import (
	"github.com/cmdsrv/cmdsrv/protocol"
)

// This platform (Windows) has no unix sockets with descriptor passing and
// no fork/exec process groups: the socket services and their workers do
// not exist here; the pipe service and direct runs do.

// runWorker never serves as a worker here: no process starts one.
func (p *Program) runWorker(args []string) (code int, ok bool) { return 0, false }

func (p *Program) serveUnix(o serveOptions, cfg *protocol.Config) int {
	return p.abort("--cmdserver unix is not supported on this platform: use --cmdserver pipe")
}

func (p *Program) serveChg(o serveOptions, cfg *protocol.Config) int {
	return p.abort("--cmdserver chgunix is not supported on this platform: use --cmdserver pipe")
}
