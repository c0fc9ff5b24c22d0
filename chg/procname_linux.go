package chg

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// canSetProcName reports whether setprocname is advertised.
const canSetProcName = true

// setProcName sets the process name shown by ps and top (comm, at most 15
// bytes). It writes /proc/self/comm rather than calling prctl(PR_SET_NAME),
// which would rename only the OS thread the goroutine happens to run on;
// /proc/self/comm names the thread-group leader, which is what ps shows.
// Plain system calls, not an os.File: chg asks on every call, and opening
// a file the Go way costs four more (poller registration and its undoing).
func setProcName(name string) error {
	if len(name) > 15 {
		name = name[:15]
	}
	fd, err := unix.Open("/proc/self/comm", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("setting process name: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(name)); err != nil {
		return fmt.Errorf("setting process name: %w", err)
	}
	return nil
}
