//go:build unix

package chg

import (
	"context"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/protocol"
	"github.com/cmdsrv/cmdsrv/unixfork"
)

// validate checks that this server suits the client's command line and
// environment, and answers instructions (PROTOCOL.md, "validate"): unlink
// and reconnect when the executable changed since the server started,
// redirect when the client's sensitive configuration or environment
// selects another server, exit 255 when its --config cannot be parsed.
func (c *conn) validate(ctx context.Context, s *session.Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	insts, err := c.instructions(parseArgs(b), s.Environ())
	if err != nil {
		return err
	}
	c.log.Debug("validate", "instructions", insts)
	answer := []byte(strings.Join(insts, "\x00"))
	if len(answer) == 0 {
		answer = []byte{0}
	}
	return s.Frames().WriteFrame(session.ChannelResult, answer)
}

func (c *conn) instructions(args, env []string) ([]string, error) {
	// Only a program that opted in to hg's global options has a --config
	// of hg's form; for any other the client's words are the
	// application's own, and its configuration hash is that of nothing.
	cfg := &protocol.Config{}
	var err error
	if c.sess.Options.GlobalOptions {
		var g session.GlobalOptions
		if g, _, err = session.ParseGlobalOptions(args); err == nil {
			err = cfg.Apply(g.Config)
		}
	}
	if err != nil {
		// As hg does, the message goes to the command's stderr: the
		// client's own once attachio has run.
		_, _ = io.WriteString(c.stderr(), "abort: "+err.Error()+"\n")
		return []string{"exit 255"}, nil
	}
	st := c.state
	var insts []string
	if MtimeHash(st.MtimePaths) != st.MtimeHash {
		insts = append(insts, c.binaryChanged(st)...)
	}
	if h := ConfigHash(cfg, env, c.opts); h != st.ConfigHash {
		insts = append(insts, "redirect "+HashAddress(st.BaseAddress, h))
	}
	return insts, nil
}

// handOverWait bounds validate's wait for its master's hand-over to the
// new binary: a probe of the binary and an exec.
const handOverWait = 10 * time.Second

// binaryChanged answers a client whose validate found the binary (or an
// extension file) changed. The master hands over to the new build in
// place, on the same socket: the client reconnects to it once this
// worker's master is gone, and waits there for the new image's first
// worker, warm, instead of starting a server of its own. When the master
// cannot hand over, the client is sent to start a new server, as chg's
// own server does: unlink the socket, then reconnect.
func (c *conn) binaryChanged(st *State) []string {
	err := unixfork.RequestHandOver("binary or extension file changed", handOverWait)
	if err == nil {
		return []string{"reconnect"}
	}
	c.log.Warn("cannot hand over to the new binary; the client starts a new server", "error", err)
	return []string{"unlink " + HashAddress(st.BaseAddress, st.ConfigHash), "reconnect"}
}

func (c *conn) stderr() io.Writer {
	if c.sess.Attached() {
		return os.Stderr
	}
	if c.sess.Stderr != nil {
		return c.sess.Stderr
	}
	return os.Stderr // a worker's: its master's log
}
