package unixfork

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/sysfd"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// rehearse serves one session to the worker itself over a socketpair (the
// hello and a getencoding request) before the worker reports ready. A
// fresh process runs its first session on code, heap spans and goroutine
// stacks it has never touched, and the page faults cost the first client
// about as much as the rest of its connect; rehearsing moves that cost
// off the client's path. The handler is not called.
func rehearse(ctx context.Context, h protocol.Handler, cfg *protocol.Config) error {
	fds, err := sysfd.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("rehearsing a session: %w", err)
	}
	srv, err := fileConn(fds[0])
	if err != nil {
		unix.Close(fds[1])
		return fmt.Errorf("rehearsing a session: %w", err)
	}
	defer srv.Close()
	cli, err := fileConn(fds[1])
	if err != nil {
		return fmt.Errorf("rehearsing a session: %w", err)
	}
	defer cli.Close()
	sess := &session.Session{Handler: h, Logger: hclog.NewNullLogger(), Options: protocol.SessionOptions{Config: cfg}}
	done := make(chan error, 1)
	go func() {
		// Through the worker's own wrapper, as a client's session is.
		tc := &trackedConn{UnixConn: srv}
		err := sess.Serve(ctx, tc, tc)
		srv.Close() // a session that failed must not leave the reader waiting
		done <- err
	}()
	if err := rehearseRequests(cli); err != nil {
		cli.Close() // ends a session still waiting for a request
		if serr := <-done; serr != nil {
			err = serr
		}
		return fmt.Errorf("rehearsing a session: %w", err)
	}
	cli.Close() // end of input between requests: a clean end
	if err := <-done; err != nil {
		return fmt.Errorf("rehearsing a session: %w", err)
	}
	return nil
}

func rehearseRequests(c io.ReadWriter) error {
	ch, msg, _, err := wire.ReadFrame(c, 64<<10)
	if err != nil {
		return fmt.Errorf("reading hello: %w", err)
	}
	if ch != session.ChannelOutput {
		return fmt.Errorf("got %q on channel %q instead of the hello", msg, ch)
	}
	if _, err := io.WriteString(c, "getencoding\n"); err != nil {
		return err
	}
	if ch, msg, _, err = wire.ReadFrame(c, 64<<10); err != nil {
		return fmt.Errorf("reading getencoding result: %w", err)
	}
	if ch != session.ChannelResult {
		return fmt.Errorf("got %q on channel %q instead of the encoding", msg, ch)
	}
	return nil
}

// fileConn turns a socket descriptor into a net.Conn, taking ownership.
func fileConn(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	return c.(*net.UnixConn), nil // an AF_UNIX socket's
}
