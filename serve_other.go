//go:build !unix

package cmdsrv

import (
	"context"
	"fmt"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// This platform (Windows) has no unix sockets with descriptor passing and
// no fork/exec process groups: the socket services and their workers do
// not exist here; the pipe service and direct runs do.

// isWorker is false: no master starts workers here.
func isWorker() bool { return false }

func (p *Program) runWorker() int { return p.abort("worker processes need a Unix system") }

func (p *Program) socketService(context.Context, serviceStart) error {
	return errSocketServices
}

func (p *Program) runService(o serverArgs, _ *protocol.Config, _ socketService) int {
	return p.abort("--cmdserver %s is not supported on this platform: use --cmdserver pipe", o.mode)
}

func (p *Program) control(serverArgs) int {
	return p.abort("--status needs --cmdserver unix or chgunix, which this platform lacks")
}

var errSocketServices = fmt.Errorf("the socket services need a Unix system: use --cmdserver pipe")
