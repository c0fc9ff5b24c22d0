package unixfork

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// masterStart is when this process started, near enough: package
// variables are set before main runs. It is read only in a master.
var masterStart = time.Now()

// vcsInfo is what the Go build info says of the source the running binary
// was built from; read once, it cannot change.
var vcsInfo = sync.OnceValue(func() (v struct {
	revision, time string
	modified       bool
}) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.time":
			v.time = s.Value
		case "vcs.modified":
			v.modified = s.Value == "true"
		}
	}
	return v
})

// addMaster fills in st the master's block: this process (the one that
// owns the pool), its binary and when it started.
func addMaster(st *Status) {
	st.MasterPID = os.Getpid()
	st.Started = masterStart.Format(time.RFC3339)
	if exe, err := os.Executable(); err == nil {
		st.Binary = exe
	}
	// The running file, not what now has its name: a binary replaced on
	// disk since the start must not lend the master its new time.
	if fi, err := os.Stat(runningExecutable(st.Binary)); err == nil {
		st.BinaryTime = fi.ModTime().Format(time.RFC3339)
	}
	v := vcsInfo()
	st.VCSRevision, st.VCSTime, st.VCSModified = v.revision, v.time, v.modified
}

// formatMaster writes the master's lines of Format; a server that
// predates them sent none.
func (s *Status) formatMaster(w io.Writer) error {
	if s.MasterPID == 0 {
		return nil
	}
	bin := s.Binary
	if bin == "" {
		bin = "unknown"
	}
	if s.BinaryTime != "" {
		bin += " (modified " + s.BinaryTime + ")"
	}
	build := "no version control information"
	if s.VCSRevision != "" {
		build = "revision " + s.VCSRevision
		if s.VCSTime != "" {
			build += " of " + s.VCSTime
		}
		if s.VCSModified {
			build += ", with uncommitted changes"
		}
	}
	_, err := fmt.Fprintf(w, "master pid: %d\nstarted: %s\nbinary: %s\nbuild: %s\n", s.MasterPID, s.Started, bin, build)
	return err
}

// ErrNoServer is in the error of QueryStatus and Stop when nothing serves
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

// Stop shuts down the server at addr as SIGTERM does: it stops accepting,
// lets busy workers finish their clients and exits. Stop sends the signal
// to the master the server's status names, once the kernel confirmed that
// process serves the socket, and waits until it has exited or ctx ends.
// It returns the master's pid. Nothing serving at addr is an error that
// wraps ErrNoServer; Stop never starts a server.
func Stop(ctx context.Context, addr string) (int, error) {
	st, who, err := queryStatus(ctx, addr)
	if err != nil {
		return 0, err
	}
	pid := st.MasterPID
	if pid <= 0 {
		return 0, fmt.Errorf("the server at %s does not report its pid (it predates serve --stop): stop it with SIGTERM", addr)
	}
	if !who.serves(pid) {
		return 0, fmt.Errorf("cannot confirm that pid %d serves %s (the worker that answered is pid %d): not signalling it", pid, addr, who.helloPID)
	}
	if err := unix.Kill(pid, unix.SIGTERM); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return pid, nil // it ended on its own meanwhile
		}
		return 0, fmt.Errorf("stopping the server at %s (pid %d): %w", addr, pid, err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !masterExited(pid) {
		select {
		case <-ctx.Done():
			return pid, fmt.Errorf("the server at %s (pid %d) is still running, waiting for its busy workers: %w", addr, pid, ctx.Err())
		case <-tick.C:
		}
	}
	return pid, nil
}
