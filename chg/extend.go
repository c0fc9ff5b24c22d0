//go:build unix

package chg

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/internal/envlist"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// maxFDs bounds the descriptors accepted by one attachio.
const maxFDs = 16

// conn is the chg state of one connection.
type conn struct {
	sess *session.Session
	uc   *net.UnixConn
	// state is the server's start-up hashes.
	state *State
	opts  *Options
	log   hclog.Logger
}

// extend adds chg's extensions to a session served over uc in a process
// that serves this client alone (see the package doc): the attachio,
// chdir, setenv, setumask, setumask2, setprocname (where it can be set)
// and validate commands, and the System and Pager hooks that hand shell
// commands and the pager to the client over the 'S' channel once attachio
// has run. st is the server's start-up hashes that validate compares a
// client against; validate is left out when st is nil
// (chgserver.skiphash=true). validate reads the client's --config options
// only when sess.Options.GlobalOptions is set. Call extend before
// sess.Serve.
func extend(sess *session.Session, uc *net.UnixConn, st *State, opts *Options) {
	if opts == nil {
		opts = &Options{}
	}
	c := &conn{sess: sess, uc: uc, opts: opts, log: sess.Logger, state: st}
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	if sess.Commands == nil {
		sess.Commands = make(map[string]session.CommandFunc)
	}
	sess.Commands["attachio"] = c.attachio
	sess.Commands["chdir"] = c.chdir
	sess.Commands["setenv"] = c.setenv
	sess.Commands["setumask"] = c.setumask
	sess.Commands["setumask2"] = c.setumask2
	if canSetProcName {
		sess.Commands["setprocname"] = c.setprocname
	}
	if st != nil {
		sess.Commands["validate"] = c.validate
	}
	sess.System = c.system
	sess.Pager = c.pager
	sess.Mode = protocol.ModeChg
}

func (c *conn) chdir(ctx context.Context, s *session.Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	dir, err := session.ParseChdir(b)
	if err != nil || dir == "" {
		return err
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("changing directory: %w", err)
	}
	if wd, err := os.Getwd(); err == nil {
		dir = wd // a relative path becomes absolute, as Request.Dir must be
	}
	s.SetWorkDir(dir)
	c.log.Trace("chdir", "dir", dir)
	return nil
}

func (c *conn) setenv(ctx context.Context, s *session.Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	env, err := session.ParseSetenv(b)
	if err != nil {
		return err
	}
	if err := envlist.Replace(env); err != nil {
		return err
	}
	s.SetEnviron(env)
	c.log.Trace("setenv", "count", len(env))
	return nil
}

// errMaskLength is the error of a setumask2 block that is not 4 bytes.
var errMaskLength = errors.New("invalid mask length in setumask2 request (want 4 bytes)")

func (c *conn) setumask2(ctx context.Context, s *session.Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	mask, err := parseUmask2(b)
	if err != nil {
		return err
	}
	return c.applyUmask(mask)
}

// setumask is the deprecated form: 4 raw bytes without a length.
func (c *conn) setumask(ctx context.Context, s *session.Session) error {
	var b [4]byte
	if _, err := readFull(s, b[:]); err != nil {
		return err
	}
	mask, err := parseUmask(b)
	if err != nil {
		return err
	}
	return c.applyUmask(mask)
}

func (c *conn) applyUmask(mask int) error {
	syscall.Umask(mask)
	c.log.Trace("setumask", "mask", fmt.Sprintf("%04o", mask))
	return nil
}

func (c *conn) setprocname(ctx context.Context, s *session.Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	if err := setProcName(string(b)); err != nil {
		// A title is cosmetic: log and go on rather than end the session.
		c.log.Trace("setprocname failed", "error", err)
	}
	return nil
}

// The decoders of the requests' blocks, apart from the commands that act
// on them so that they can be fuzzed in-process: every malformed block is
// an error, and nothing is changed before the whole block is checked.

// parseUmask2 decodes a setumask2 block: exactly 4 bytes, big-endian.
func parseUmask2(b []byte) (int, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("%w, got %d", errMaskLength, len(b))
	}
	return parseUmask([4]byte(b))
}

// parseUmask decodes the 4 bytes of a umask, which must be at most 0777.
func parseUmask(b [4]byte) (int, error) {
	mask := binary.BigEndian.Uint32(b[:])
	if mask > 0o777 {
		return 0, fmt.Errorf("invalid umask %#o", mask)
	}
	return int(mask), nil
}

// parseArgs decodes validate's NUL-joined argument block.
func parseArgs(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}
