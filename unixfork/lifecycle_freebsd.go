//go:build freebsd

package unixfork

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peerPID is the cr_pid of c's LOCAL_PEERCRED (FreeBSD 13 and later): for
// a connection to a listening socket, the process that called listen
// (0: unknown, as older kernels leave it).
func peerPID(c *net.UnixConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	_ = rc.Control(func(fd uintptr) {
		cred, err := unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if err != nil || cred.Version != xucredVersion {
			return
		}
		// x/sys leaves the last member, the union that holds cr_pid,
		// unnamed: it is the struct's last pointer-sized word, and the
		// pid_t starts that word whatever the byte order.
		off := unsafe.Sizeof(*cred) - unsafe.Sizeof(uintptr(0))
		pid = int(*(*int32)(unsafe.Add(unsafe.Pointer(cred), off)))
	})
	return pid
}

// parentPID is unknown here: peerPID alone confirms the master.
func parentPID(int) int { return -1 }
