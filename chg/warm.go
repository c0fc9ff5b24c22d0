//go:build unix

package chg

import (
	"github.com/hashicorp/go-hclog"
	"io"
	"os"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// prewarm runs, once, the computations every chg call makes the server
// repeat (the hashes of validate, the parsing of a command line), with
// this process's own environment and no side effect. A worker calls it
// before it reports ready: a fresh process runs such code cold (page
// faults, first use of the hash and formatting code), and measured at the
// first client that costs it tens of microseconds per call. Errors are
// ignored: the client's own validate reports them.
func prewarm(st *State, opts *Options) {
	// A session that reads hg's global options parses the sample's
	// --config too; the hashes do not depend on it.
	c := &conn{log: hclog.NewNullLogger(), state: st, opts: opts, sess: &session.Session{Options: protocol.SessionOptions{GlobalOptions: true}, Stderr: io.Discard}}
	if c.opts == nil {
		c.opts = &Options{}
	}
	_, _ = c.instructions([]string{"--config", "x.y=z", "version"}, CleanEnv(os.Environ()))
}
