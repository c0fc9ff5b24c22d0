//go:build unix

package daemon

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// listenFDsStart is the first fd systemd passes (SD_LISTEN_FDS_START).
const listenFDsStart = 3

var activation struct {
	once sync.Once
	l    *net.UnixListener
	err  error
}

// ActivationListener returns the unix socket that systemd (or
// systemd-socket-activate) passed to this process, or nil when the
// process was not socket-activated (LISTEN_PID unset or naming another
// process). The listener is never unlinked when closed: the socket file
// belongs to systemd. More than one socket, or one that is not a unix
// stream socket, is an error.
//
// The first call consumes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES (so
// that worker processes do not see them) and later calls return the same
// result. These few lines stand in for go-systemd's activation package:
// one fd and three variables do not need another dependency.
func ActivationListener() (*net.UnixListener, error) {
	activation.once.Do(func() {
		activation.l, activation.err = activationListener()
	})
	return activation.l, activation.err
}

func activationListener() (*net.UnixListener, error) {
	pidStr, fdsStr := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	if pidStr == "" || fdsStr == "" {
		return nil, nil
	}
	if pid, err := strconv.Atoi(pidStr); err != nil || pid != os.Getpid() {
		return nil, nil // meant for another process (our parent, say)
	}
	names := os.Getenv("LISTEN_FDNAMES")
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	n, err := strconv.Atoi(fdsStr)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("socket activation: invalid LISTEN_FDS=%q", fdsStr)
	}
	if n > 1 {
		return nil, fmt.Errorf("socket activation: %d sockets passed, cmdsrv serves one", n)
	}
	syscall.CloseOnExec(listenFDsStart)
	name := names
	if name == "" {
		name = "LISTEN_FD_3"
	}
	f := os.NewFile(listenFDsStart, name)
	defer f.Close() // FileListener dups it
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("socket activation: fd %d is a %s socket, not a unix one", listenFDsStart, l.Addr().Network())
	}
	ul.SetUnlinkOnClose(false)
	return ul, nil
}
