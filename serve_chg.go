package cmdsrv

import "github.com/cmdsrv/cmdsrv/protocol"

func (p *Program) serveChg(o serveOptions, cfg *protocol.Config) int {
	return p.abort("--cmdserver chgunix is not built yet in this version of cmdsrv")
}
