//go:build darwin

package unixfork

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerPID is the pid LOCAL_PEERPID gives c: the last process to use the
// listening socket, the master or one of its workers (0: unknown).
func peerPID(c *net.UnixConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	_ = rc.Control(func(fd uintptr) {
		if p, err := unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID); err == nil {
			pid = p
		}
	})
	return pid
}

// parentPID is pid's parent, from the kern.proc.pid sysctl (-1: unknown).
func parentPID(pid int) int {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil || int(kp.Proc.P_pid) != pid {
		return -1
	}
	return int(kp.Eproc.Ppid)
}
