package cmdsrv

import "github.com/cmdsrv/cmdsrv/protocol"

// runWorker serves as a worker process of the unix services when this
// process was started as one; ok is false otherwise.
func (p *Program) runWorker(args []string) (code int, ok bool) {
	return 0, false
}

func (p *Program) serveUnix(o serveOptions, cfg *protocol.Config) int {
	return p.abort("--cmdserver unix is not built yet in this version of cmdsrv")
}
