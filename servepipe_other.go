//go:build !unix

package cmdsrv

import (
	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// supervisePipe does not supervise here: the pipe server serves its
// session in-process (servePipe), and a command's os.Exit ends it.
func (p *Program) supervisePipe(protocol.SessionOptions, hclog.Logger) (code int, ok bool) {
	return 0, false
}
