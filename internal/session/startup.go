package session

import (
	"context"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// StartupEnd is the Handler of a session served in place of a process
// that ended as it started (its package initialisation or its
// constructor exited): each command ends as a plain run of the program
// would, with what the start-up wrote and its status. A pipe supervisor
// and a unix master answer with it.
type StartupEnd struct {
	Stdout, Stderr []byte
	Status         int
}

func (h *StartupEnd) ServeCommand(_ context.Context, req *protocol.Request) int {
	_, _ = req.Stdout.Write(h.Stdout)
	_, _ = req.Stderr.Write(h.Stderr)
	return h.Status
}
