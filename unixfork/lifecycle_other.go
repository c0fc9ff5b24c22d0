//go:build !linux && !darwin && !freebsd

package unixfork

import (
	"net"

	"golang.org/x/sys/unix"
)

// runningExecutable: the path os.Executable found is stat'ed.
func runningExecutable(path string) string { return path }

// peerPID is unknown on this platform, so Stop cannot confirm a master
// and signals none.
func peerPID(*net.UnixConn) int { return 0 }

// parentPID is unknown on this platform.
func parentPID(int) int { return -1 }

// masterExited reports whether the process pid has exited.
func masterExited(pid int) bool { return unix.Kill(pid, 0) == unix.ESRCH }
