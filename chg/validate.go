//go:build unix

package chg

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/protocol"
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
		insts = append(insts, "unlink "+HashAddress(st.BaseAddress, st.ConfigHash), "reconnect")
	}
	if h := ConfigHash(cfg, env, c.opts); h != st.ConfigHash {
		insts = append(insts, "redirect "+HashAddress(st.BaseAddress, h))
	}
	return insts, nil
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
