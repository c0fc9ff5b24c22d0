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

	"github.com/cmdsrv/cmdsrv/protocol"
)

// Options tune the chg extensions and the server. The zero value (or nil)
// gives the defaults.
type Options struct {
	// SensitiveEnv adds environment variables to those whose values select
	// a server (see DefaultSensitiveEnv). A trailing '*' matches a prefix.
	SensitiveEnv []string
	// SensitiveConfig lists configuration keys ("section.name") or whole
	// sections ("section") whose values select a server. Default: none.
	SensitiveConfig []string
	// MtimePaths are files besides the executable whose mtime and size
	// make a server outdated when they change (configuration files the
	// application read at start-up, say).
	MtimePaths []string
}

// DefaultSensitiveEnv are the environment variables whose values select a
// server: a client whose values differ is redirected to another one.
// CHGHG is among them so that two applications never share a server.
var DefaultSensitiveEnv = []string{"CHGHG", "PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "CMDSRV_*"}

// clientOnlyEnv are variables that only steer cmdsrv's own client mode and
// the thin client cmd/cmdsrv-chg (which socket, whether to use one, debug
// lines, which binary); they change nothing in the server, so they never
// ask for another one.
var clientOnlyEnv = map[string]bool{"CMDSRV_CLIENT": true, "CMDSRV_DEBUG": true, "CMDSRV_SOCKNAME": true, "CMDSRV_APP": true}

// maxFDs bounds the descriptors accepted by one attachio.
const maxFDs = 16

// conn is the chg state of one connection.
type conn struct {
	sess *protocol.Session
	uc   *net.UnixConn
	// state is the server's start-up hashes (stateErr when missing).
	state    *State
	stateErr error
	opts     *Options
	log      hclog.Logger
}

// Extend adds chg's extensions to a session served over uc in a process
// that serves this client alone (see the package doc): the attachio,
// chdir, setenv, setumask, setumask2, setprocname (where it can be set)
// and validate commands, and the System and Pager hooks that hand shell
// commands and the pager to the client over the 'S' channel once attachio
// has run. validate is left out with chgserver.skiphash=true. Call it
// before sess.Serve; sess.Config must be set by then.
func Extend(sess *protocol.Session, uc *net.UnixConn, opts *Options) {
	if opts == nil {
		opts = &Options{}
	}
	c := &conn{sess: sess, uc: uc, opts: opts, log: sess.Logger}
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	// The server's hashes travel in the configuration; commands must not
	// see them as a setting.
	c.state, c.stateErr = StateFrom(sess.Config)
	sess.Config = sess.Config.Clone()
	sess.Config.Delete(stateKey)
	if sess.Commands == nil {
		sess.Commands = make(map[string]protocol.CommandFunc)
	}
	sess.Commands["attachio"] = c.attachio
	sess.Commands["chdir"] = c.chdir
	sess.Commands["setenv"] = c.setenv
	sess.Commands["setumask"] = c.setumask
	sess.Commands["setumask2"] = c.setumask2
	if canSetProcName {
		sess.Commands["setprocname"] = c.setprocname
	}
	if skip, _ := sess.Config.Bool("chgserver.skiphash", false); !skip {
		sess.Commands["validate"] = c.validate
	}
	sess.System = c.system
	sess.Pager = c.pager
}

func (c *conn) chdir(ctx context.Context, s *protocol.Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	dir := string(b)
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("changing directory: %w", err)
	}
	if wd, err := os.Getwd(); err == nil {
		dir = wd // a relative path becomes absolute, as Request.Dir must be
	}
	s.SetWorkDir(dir)
	c.log.Debug("chdir", "dir", dir)
	return nil
}

func (c *conn) setenv(ctx context.Context, s *protocol.Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	var env []string
	if len(b) > 0 {
		env = strings.Split(string(b), "\x00")
	}
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("unexpected value in setenv request: %q is not NAME=VALUE", e)
		}
	}
	os.Clearenv()
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("setting %s: %w", k, err)
		}
	}
	s.SetEnviron(env)
	c.log.Debug("setenv", "count", len(env))
	return nil
}

// errMaskLength is the error of a setumask2 block that is not 4 bytes.
var errMaskLength = errors.New("invalid mask length in setumask2 request (want 4 bytes)")

func (c *conn) setumask2(ctx context.Context, s *protocol.Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	if len(b) != 4 {
		return fmt.Errorf("%w, got %d", errMaskLength, len(b))
	}
	return c.applyUmask(b)
}

// setumask is the deprecated form: 4 raw bytes without a length.
func (c *conn) setumask(ctx context.Context, s *protocol.Session) error {
	var b [4]byte
	if _, err := readFull(s, b[:]); err != nil {
		return err
	}
	return c.applyUmask(b[:])
}

func (c *conn) applyUmask(b []byte) error {
	mask := binary.BigEndian.Uint32(b)
	if mask > 0o777 {
		return fmt.Errorf("invalid umask %#o", mask)
	}
	syscall.Umask(int(mask))
	c.log.Debug("setumask", "mask", fmt.Sprintf("%04o", mask))
	return nil
}

func (c *conn) setprocname(ctx context.Context, s *protocol.Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	if err := setProcName(string(b)); err != nil {
		// A title is cosmetic: log and go on rather than end the session.
		c.log.Debug("setprocname failed", "error", err)
	}
	return nil
}

// WorkerExtend returns Extend with opts, in the form unixfork.Worker.Extend
// takes.
func WorkerExtend(opts *Options) func(*protocol.Session, *net.UnixConn) {
	return func(sess *protocol.Session, uc *net.UnixConn) { Extend(sess, uc, opts) }
}
