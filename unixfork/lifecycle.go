package unixfork

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNoServer is in the error of QueryStatus and ConfirmedStatus when nothing serves
// the address: no socket file there, or a stale one.
var ErrNoServer = errors.New("no server")

// noServerError says why nothing serves addr.
type noServerError struct {
	addr, why string
}

func (e *noServerError) Error() string {
	if e.why == "" {
		return "no server at " + e.addr
	}
	return "no server at " + e.addr + " (" + e.why + ")"
}

func (e *noServerError) Is(target error) bool { return target == ErrNoServer }

// dialServer connects to the server at addr, telling apart (as
// noServerError) no socket file, a file that is no socket, and a stale
// socket (nobody accepts on it, or only orphaned workers of a dead master
// do).
func dialServer(ctx context.Context, addr string) (*net.UnixConn, error) {
	// Stat, not Lstat: chg's server socket is a symlink to the one named
	// after its hashes.
	fi, err := os.Stat(addr)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, &noServerError{addr: addr}
	case err == nil && fi.Mode()&os.ModeSocket == 0:
		return nil, &noServerError{addr: addr, why: "the file there is not a socket"}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		if errors.Is(err, unix.ECONNREFUSED) {
			return nil, &noServerError{addr: addr, why: "stale socket file: nothing listens on it"}
		}
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	uc := c.(*net.UnixConn)
	if alive, known := listenerCreatorAlive(uc); known && !alive {
		uc.Close()
		return nil, &noServerError{addr: addr, why: "stale socket file: the server that made it is gone"}
	}
	return uc, nil
}

// answerer is who answered a status request: the pid in the worker's
// hello, and the peer pid the kernel gives the connection (0: unknown).
type answerer struct {
	helloPID, peerPID int
}

// serves reports whether master is, by what the kernel says, the server
// of the socket the answer came from, so that Stop never signals a pid a
// server merely claims. On Linux and FreeBSD the peer of a connection to
// a listening socket is the process that called listen, the master; on
// macOS the last process to use the listening socket, the master or one
// of its workers. Under socket activation another process (systemd)
// listened: then the worker that answered must be the master's child.
func (a answerer) serves(master int) bool {
	if master <= 0 {
		return false
	}
	if a.peerPID == master || (a.peerPID > 0 && parentPID(a.peerPID) == master) {
		return true
	}
	return a.helloPID > 0 && a.helloPID != master && parentPID(a.helloPID) == master
}

// ConfirmedStatus is QueryStatus for a caller about to signal the
// server's master (serve --stop, --restart): it also reports whether the
// kernel confirms that the pid the status names (Status.PID) serves the
// socket, so that a pid a server merely claims is never signalled.
func ConfirmedStatus(ctx context.Context, addr string) (st *Status, confirmed bool, err error) {
	st, who, err := queryStatus(ctx, addr)
	if err != nil {
		return nil, false, err
	}
	return st, who.serves(st.PID), nil
}
