// Package workerext carries the per-session extension of unixfork's
// workers from the package that defines it (chg) to the worker, so that
// neither public API names an internal type: chg registers its decoder
// when it is linked in, and a worker asks for it with its master's
// WorkerData, as database/sql finds its drivers.
package workerext

import (
	"net"
	"sync"

	"github.com/cmdsrv/cmdsrv/internal/session"
)

// Extend customises one connection's session before it is served (chg
// registers attachio, chdir, setenv... and the System and Pager hooks).
type Extend = func(sess *session.Session, conn *net.UnixConn)

// Decoder turns a master's WorkerData into its workers' Extend (nil: the
// data asks for none).
type Decoder = func(data []byte) (Extend, error)

var (
	mu      sync.Mutex
	decoder Decoder
)

// Register makes d the decoder of every worker of this program. A second
// registration panics: two packages would claim the same data.
func Register(d Decoder) {
	mu.Lock()
	defer mu.Unlock()
	if decoder != nil {
		panic("workerext: Register called twice")
	}
	decoder = d
}

// Decode is the registered decoder's answer for data: nil, nil without
// data or without a registered decoder (a plain worker).
func Decode(data []byte) (Extend, error) {
	mu.Lock()
	d := decoder
	mu.Unlock()
	if d == nil || len(data) == 0 {
		return nil, nil
	}
	return d(data)
}
