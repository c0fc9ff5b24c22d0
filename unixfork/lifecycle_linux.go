//go:build linux

package unixfork

import (
	"net"

	"github.com/cmdsrv/cmdsrv/internal/procstat"
)

// peerPID is the pid SO_PEERCRED gives c: for a connection to a listening
// socket, the process that called listen (0: unknown).
func peerPID(c *net.UnixConn) int {
	cred, err := peerCred(c)
	if err != nil {
		return 0
	}
	return int(cred.Pid)
}

// parentPID is pid's parent (-1: unknown).
func parentPID(pid int) int {
	st, err := procstat.Read(pid)
	if err != nil {
		return -1
	}
	return st.PPID
}
