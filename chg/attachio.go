//go:build unix

package chg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/cmdsrv/cmdsrv/internal/fdpass"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

// attachio receives the client's stdin, stdout and stderr and puts them
// on fds 0, 1 and 2, so that commands write straight to the client's
// terminal (PROTOCOL.md, "The chg extensions").
func (c *conn) attachio(ctx context.Context, s *session.Session) error {
	// The descriptors arrive with a 1-byte message read off the socket
	// itself, past the session's buffered reader: anything already
	// buffered there would come before that byte and be lost to it.
	if n := s.Reader().Buffered(); n > 0 {
		return fmt.Errorf("client sent %d bytes before its descriptors", n)
	}
	if err := s.Frames().WriteHeader(session.ChannelInput, 1); err != nil {
		return err
	}
	fds, err := recvStdio(c.uc)
	if err != nil {
		return err
	}
	defer fdpass.Close(fds)
	for i, fd := range fds {
		if err := sysfd.Dup2(fd, i); err != nil {
			return fmt.Errorf("attaching descriptor %d: %w", i, err)
		}
	}
	// os.Stdin/Stdout/Stderr name fds 0-2 and now reach the client's
	// descriptors. They are process globals that are never collected,
	// unlike fresh os.NewFile values whose finalizers would close 0-2.
	s.Attach(os.Stdin, os.Stdout, os.Stderr)
	c.log.Debug("attachio", "fds", len(fds))
	return s.Frames().WriteResult(int32(len(fds)))
}

// recvStdio receives the one byte of an attachio and the client's stdin,
// stdout and stderr with it. Any other number of descriptors is refused
// (and those received are closed); end of input is ErrTruncated.
func recvStdio(uc *net.UnixConn) ([]int, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("receiving descriptors: %w", err)
	}
	_, fds, err := fdpass.Recv(rc, 1, maxFDs)
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("receiving descriptors: %w", session.ErrTruncated)
	}
	if err != nil {
		return nil, err
	}
	if err := checkAttachFDs(len(fds)); err != nil {
		fdpass.Close(fds)
		return nil, err
	}
	return fds, nil
}

// checkAttachFDs refuses an attachio that does not pass exactly stdin,
// stdout and stderr: with fewer, the missing ones would stay this
// process's own (the server's log), so the client's output would go
// there instead of to the client.
func checkAttachFDs(n int) error {
	if n != 3 {
		return fmt.Errorf("received %d descriptors, want 3 (stdin, stdout, stderr)", n)
	}
	return nil
}

// readFull reads len(b) raw bytes of the current request; end of input is
// ErrTruncated.
func readFull(s *session.Session, b []byte) (int, error) {
	n, err := io.ReadFull(s.Reader(), b)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return n, fmt.Errorf("reading %d bytes: %w", len(b), session.ErrTruncated)
	}
	return n, err
}
