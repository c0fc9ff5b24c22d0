//go:build unix

package chg

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/protocol"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

// maxPagerLine bounds a request line read while the client starts its
// pager; the only ones expected are "attachio" and "".
const maxPagerLine = 64

// systemPayload builds an 'S' frame payload: TYPE, COMMAND, CWD and the
// environment, NUL-joined.
func systemPayload(typ, cmd string, req *protocol.Request) []byte {
	var b bytes.Buffer
	b.WriteString(typ)
	b.WriteByte(0)
	b.WriteString(cmd)
	b.WriteByte(0)
	b.WriteString(req.Dir)
	for _, e := range req.Env {
		b.WriteByte(0)
		b.WriteString(e)
	}
	return b.Bytes()
}

// system asks the client to run cmd (it runs it with /bin/sh -c in the
// request's directory and environment, on its own terminal) and returns
// the status it reports. Without attachio the command runs here.
func (c *conn) system(ctx context.Context, req *protocol.Request, cmd string) (int, error) {
	if !c.sess.Attached() {
		return session.RunShell(ctx, req, cmd)
	}
	if err := c.sess.Frames().WriteFrame(session.ChannelSystem, systemPayload("system", cmd, req)); err != nil {
		return 127, err
	}
	// No cancellation here: the client runs the command in the foreground
	// of its terminal, where an interrupt reaches it directly, and answers
	// when it ends. A client that dies ends this read with an error.
	b, err := c.sess.ReadBlock()
	if err != nil {
		return 127, fmt.Errorf("reading the status of %q from the client: %w", cmd, err)
	}
	if len(b) != 4 {
		return 127, fmt.Errorf("invalid response to a system request: %d bytes, want 4", len(b))
	}
	return int(int32(binary.BigEndian.Uint32(b))), nil
}

// pager asks the client to start pagerCmd and re-attach this process's
// stdio to it. The returned stop puts the previous descriptors back at
// the end of the command, which closes this process's end of the pager's
// pipe so the pager sees end of input.
func (c *conn) pager(ctx context.Context, req *protocol.Request, pagerCmd string) (func(), error) {
	if !c.sess.Attached() {
		return func() {}, nil // no terminal of the client to page on
	}
	saved, err := sysfd.SaveStdio()
	if err != nil {
		return nil, err
	}
	restore := func() {
		_ = saved.Restore()
		saved.Close()
	}
	if err := c.sess.Frames().WriteFrame(session.ChannelSystem, systemPayload("pager", pagerCmd, req)); err != nil {
		restore()
		return nil, err
	}
	for {
		line, err := c.sess.Reader().ReadSlice('\n')
		if err != nil || len(line) > maxPagerLine {
			restore()
			if err == nil || errors.Is(err, bufio.ErrBufferFull) {
				err = errors.New("request line too long")
			}
			return nil, fmt.Errorf("waiting for the client's pager: %w", err)
		}
		switch name := strings.TrimSuffix(string(line), "\n"); name {
		case "":
			c.log.Debug("pager started", "command", pagerCmd)
			return restore, nil
		case "attachio":
			if err := c.attachio(ctx, c.sess); err != nil {
				restore()
				return nil, err
			}
		default:
			restore()
			return nil, fmt.Errorf("unexpected command while starting the pager: %q", name)
		}
	}
}
