//go:build unix

package chg

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/workerext"
)

// workerData is what a chg server hands each of its workers in their
// start-up message (unixfork.Server.WorkerData): a worker that receives it
// serves chg's extensions; one that receives nothing is a plain unix
// worker.
type workerData struct {
	// State is the server's start-up hashes; nil with chgserver.skiphash.
	State *State `json:"state,omitempty"`
	// Options are the server's (Server.Options), so that its workers
	// hash as it does.
	Options *Options `json:"options,omitempty"`
}

// Every worker of a program that links chg in decodes its master's
// workerData with workerExtension.
func init() { workerext.Register(workerExtension) }

func (d workerData) encode() []byte {
	b, _ := json.Marshal(d) // plain strings: cannot fail
	return b
}

// workerExtension decodes, in a worker, the start-up data a chg Server
// sent: it returns extend with that server's state and options; given
// none (a worker of a plain unix server), no extension.
func workerExtension(data []byte) (workerext.Extend, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var d workerData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("decoding the chg server's start-up data: %w", err)
	}
	if d.State != nil {
		prewarm(d.State, d.Options)
	}
	return func(sess *session.Session, uc *net.UnixConn) { extend(sess, uc, d.State, d.Options) }, nil
}
