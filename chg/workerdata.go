//go:build unix

package chg

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/cmdsrv/cmdsrv/internal/session"
)

// workerData is what a chg server hands each of its workers in their
// start-up message (unixfork.Server.WorkerData): a worker that receives it
// serves chg's extensions; one that receives nothing is a plain unix
// worker.
type workerData struct {
	// State is the server's start-up hashes; nil with chgserver.skiphash.
	State *State `json:"state,omitempty"`
}

func (d workerData) encode() []byte {
	b, _ := json.Marshal(d) // plain strings: cannot fail
	return b
}

// WorkerExtension is unixfork.Worker.Extension for every worker of a
// program that serves chg: given the start-up data a chg Server sent, it
// returns Extend with that server's state and opts; given none (a worker
// of a plain unix server), no extension.
func WorkerExtension(opts *Options) func(data []byte) (func(*session.Session, *net.UnixConn), error) {
	return func(data []byte) (func(*session.Session, *net.UnixConn), error) {
		if len(data) == 0 {
			return nil, nil
		}
		var d workerData
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("decoding the chg server's start-up data: %w", err)
		}
		if d.State != nil {
			prewarm(d.State, opts)
		}
		return func(sess *session.Session, uc *net.UnixConn) { Extend(sess, uc, d.State, opts) }, nil
	}
}
