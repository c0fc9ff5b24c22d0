//go:build linux

package unixfork

import (
	"github.com/cmdsrv/cmdsrv/internal/procstat"
	"net"

	"golang.org/x/sys/unix"
)

// listenerCreatorAlive reports whether the process that called listen on
// the socket c is connected to still runs: on Linux the peer credentials
// of a connection to a listening socket are its creator's. A zombie (a
// killed master that nobody reaped) does not run. known is false when the
// pid is not visible (another pid namespace).
func listenerCreatorAlive(c *net.UnixConn) (alive, known bool) {
	cred, err := peerCred(c)
	if err != nil || cred.Pid <= 0 {
		return false, false
	}
	if err := unix.Kill(int(cred.Pid), 0); err == unix.ESRCH {
		return false, true
	}
	st, err := procstat.Read(int(cred.Pid))
	if err != nil {
		return true, true // it exists (kill said so), /proc aside
	}
	return !st.Zombie() && st.State != 'X', true
}
