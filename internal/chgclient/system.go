//go:build unix

package chgclient

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// serveSystem serves an 'S' request: "system" runs a shell command here and
// answers its status; "pager" starts the pager, re-attaches stdio to it and
// unblocks the server with an empty line.
func serveSystem(ctx context.Context, cn *conn, pg *pager, payload []byte) error {
	parts := strings.Split(string(payload), "\x00")
	if len(parts) < 3 {
		return fmt.Errorf("missing type or command or cwd in system request")
	}
	typ, command, dir, env := parts[0], parts[1], parts[2], parts[3:]
	switch typ {
	case "system":
		// Run here, with the client's own descriptors, in this process's
		// group (the terminal's foreground job: its Ctrl-C and hang-up
		// reach the whole command, as under chg); the status is the exit
		// code, minus the signal number, or 127 when it cannot run.
		sh := wire.Shell{Dir: dir, Env: env, Stdin: cn.io.Stdin, Stdout: cn.io.Stdout, Stderr: cn.io.Stderr}
		status, _ := wire.RunShellForeground(ctx, sh, command)
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(int32(status)))
		_, err := cn.c.Write(wire.AppendBlock(nil, b[:]))
		return err
	case "pager":
		if err := pg.start(cn.io, command, env); err != nil {
			return err
		}
		if cn.hello.Has("attachio") {
			if err := cn.attachio(); err != nil {
				return err
			}
		}
		_, err := cn.c.Write([]byte("\n"))
		return err
	}
	return fmt.Errorf("unknown type in system request: %s", typ)
}

// pager is the pager process started for a command, if any.
type pager struct {
	cmd *exec.Cmd
	// saved are duplicates of the stdout and stderr descriptors taken
	// before they were pointed at the pager (-1: not redirected).
	saved [2]int
}

// start runs the pager reading from a pipe and points stdout (and stderr
// when it is a terminal) at that pipe.
func (p *pager) start(stdio Stdio, command string, env []string) error {
	p.saved = [2]int{-1, -1}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("starting pager: %w", err)
	}
	defer w.Close()
	c := exec.Command("/bin/sh", "-c", command)
	c.Env = env
	c.Stdin, c.Stdout, c.Stderr = r, stdio.Stdout, stdio.Stderr
	if err := c.Start(); err != nil {
		r.Close()
		return fmt.Errorf("starting pager %q: %w", command, err)
	}
	r.Close()
	p.cmd = c
	if err := p.redirect(0, stdio.Stdout, w); err != nil {
		return fmt.Errorf("redirecting stdout to the pager: %w", err)
	}
	if term.IsTerminal(int(stdio.Stderr.Fd())) {
		_ = p.redirect(1, stdio.Stderr, w)
	}
	return nil
}

// redirect points f's descriptor at w, keeping a duplicate of the old one.
func (p *pager) redirect(i int, f, w *os.File) error {
	saved, err := sysfd.Dup(int(f.Fd()))
	if err != nil {
		return err
	}
	if err := sysfd.Dup2(int(w.Fd()), int(f.Fd())); err != nil {
		unix.Close(saved)
		return err
	}
	p.saved[i] = saved
	return nil
}

// wait gives stdout and stderr back their descriptors, which closes the
// last write end of the pager's pipe so it sees end of input, and waits
// for the pager to exit.
func (p *pager) wait(stdio Stdio) {
	if p.cmd == nil {
		return
	}
	for i, f := range []*os.File{stdio.Stdout, stdio.Stderr} {
		if p.saved[i] >= 0 {
			_ = sysfd.Dup2(p.saved[i], int(f.Fd()))
			unix.Close(p.saved[i])
		}
	}
	_ = p.cmd.Wait()
}
