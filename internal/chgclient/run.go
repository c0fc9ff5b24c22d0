//go:build unix

package chgclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/envlist"
)

// maxRedirects is how many validate instructions to follow, as chg does.
const maxRedirects = 10

// Run hands opts.Args to the server at opts.SocketPath, starting one when
// none answers, and returns the command's exit status. An error wrapping
// ErrNotRun means nothing was run; any other error happened while the
// command ran (the connection broke).
//
// ctx bounds the connection: when it ends before the command is handed
// over (while Run waits for a server it started, or between the steps of
// the connection), Run returns an error wrapping ErrNotRun and ctx.Err().
// A server it started keeps starting, as after opts.Timeout: the next
// client may use it. Once the command runs, ctx is passed to the client's
// side of system requests.
func Run(ctx context.Context, opts Options) (int, error) {
	if err := opts.fill(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotRun, err)
	}
	// No signal is caught while connecting (see forwardSignals).
	cn, code, exit, err := connectValidated(ctx, &opts)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotRun, err)
	}
	if exit {
		return code, nil
	}
	defer cn.close()
	if err := cn.send("runcommand", []byte(strings.Join(opts.Args, "\x00")), true); err != nil {
		return 255, err
	}
	fwd := forwardSignals(cn.hello.PID, cn.hello.PGID, !opts.ExitAfter)
	defer fwd.release(!opts.ExitAfter)
	var pg pager // waited for before the forwarding stops
	defer pg.wait(cn.io)
	res, err := cn.readResult(func(p []byte) error {
		fwd.catch() // a shell command or a pager runs here: signals are forwarded from now on
		return serveSystem(ctx, cn, &pg, p)
	})
	if err != nil {
		return 255, err
	}
	if len(res) != 4 {
		return 255, fmt.Errorf("unexpected size of exit code: %d bytes", len(res))
	}
	code = int(int32(binary.BigEndian.Uint32(res))) & 0xff
	if opts.ExitAfter {
		fwd.endAsServer(code)
	}
	return code, nil
}

// connectValidated connects (starting a server if needed), sends the
// caller's state, and follows validate instructions. exit reports an
// "exit N" instruction.
func connectValidated(ctx context.Context, o *Options) (cn *conn, code int, exit bool, err error) {
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	redirect := ""
	for try := 0; ; try++ {
		if try > maxRedirects {
			return nil, 0, false, errors.New("too many redirections")
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, false, fmt.Errorf("connecting: %w", err)
		}
		cn, err := connect(ctx, o, redirect)
		if err != nil {
			return nil, 0, false, err
		}
		if err := cn.setup(o.Dir, umask); err != nil {
			cn.close()
			return nil, 0, false, err
		}
		if cn.hello.Has("setenv") {
			if err := cn.send("setenv", []byte(strings.Join(o.Env, "\x00")), true); err != nil {
				cn.close()
				return nil, 0, false, err
			}
		}
		insts, err := cn.validate(o.Args)
		if err != nil {
			cn.close()
			return nil, 0, false, err
		}
		reconnect := false
		redirect = ""
		for _, inst := range insts {
			o.Debugf("instruction: %s", inst)
			switch {
			case strings.HasPrefix(inst, "unlink "):
				_ = os.Remove(inst[len("unlink "):])
			case strings.HasPrefix(inst, "redirect "):
				redirect, reconnect = inst[len("redirect "):], true
			case strings.HasPrefix(inst, "exit "):
				n, err := strconv.Atoi(inst[len("exit "):])
				cn.close()
				if err != nil {
					return nil, 0, false, fmt.Errorf("cannot read the exit code: %q", inst)
				}
				return nil, n, true, nil
			case inst == "reconnect":
				reconnect = true
			default:
				cn.close()
				return nil, 0, false, fmt.Errorf("unknown instruction: %q", inst)
			}
		}
		if !reconnect {
			return cn, 0, false, nil
		}
		cn.close()
	}
}

// connect dials the redirect target or the socket, and starts a server
// when nothing answers.
func connect(ctx context.Context, o *Options, redirect string) (*conn, error) {
	target := o.SocketPath
	if redirect != "" {
		target = redirect
	}
	o.Debugf("connecting to %s", target)
	cn, err := dial(target, o.Stdio)
	if err == nil || !errors.Is(err, errNoServer) {
		return cn, err
	}
	if redirect != "" {
		// The server we were sent to is gone; do not let the outdated one
		// send us there again.
		_ = os.Remove(o.SocketPath)
	}
	if o.ServerCommand == nil {
		return nil, err
	}
	return startServer(ctx, o)
}

// startServer starts a server at a temporary address, waits until it
// accepts, and renames the address into place, as chg does: two clients
// racing both succeed, and the server whose name was replaced exits.
func startServer(ctx context.Context, o *Options) (*conn, error) {
	initAddr := fmt.Sprintf("%s.%d", o.SocketPath, os.Getpid())
	cmd := o.ServerCommand(initAddr)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	// As chg does: tell the server whether LC_CTYPE was set, because
	// Python's start-up (Mercurial's server) may coerce it, which would
	// change the server's config hash.
	if v, ok := envlist.Lookup(cmd.Env, "LC_CTYPE"); ok {
		cmd.Env = append(cmd.Env, "CHGORIG_LC_CTYPE="+v)
	} else {
		cmd.Env = append(cmd.Env, "CHG_CLEAR_LC_CTYPE=")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &lockedWriter{w: &stderr}
	cmd.Stdout = cmd.Stderr
	o.Debugf("starting server: %s", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(o.Timeout)
	for time.Now().Before(deadline) {
		cn, err := dial(initAddr, o.Stdio)
		if err == nil {
			if err := os.Rename(initAddr, o.SocketPath); err != nil {
				cn.close()
				return nil, fmt.Errorf("renaming %s: %w", initAddr, err)
			}
			return cn, nil
		}
		if !errors.Is(err, errNoServer) {
			return nil, err
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("server exited before it accepted (%v): %s", werr, strings.TrimSpace(stderr.String()))
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for server at %s: %w", initAddr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("timed out waiting for server at %s", initAddr)
}

// lockedWriter serialises the writes exec.Cmd makes from two goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
