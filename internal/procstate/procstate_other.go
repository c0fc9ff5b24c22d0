//go:build !unix

package procstate

import "github.com/cmdsrv/cmdsrv/protocol"

// lend runs fn alone where descriptors cannot be lent this way (Windows):
// the command keeps the server's process state.
func lend(req *protocol.Request, argv0 string, fn func() int) (int, error) {
	return fn(), nil
}
