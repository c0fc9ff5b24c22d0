//go:build unix

package testutil

import (
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Terminate sends SIGTERM to pid, which need not be our child, and waits
// until it is gone.
func Terminate(t testing.TB, pid int, limit time.Duration) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to %d: %v", pid, err)
	}
	deadline := time.Now().Add(limit)
	for Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs %v after SIGTERM", pid, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// RequireDetached checks that pid runs as a daemon: it leads its own
// session, its stdin is /dev/null, and its stdout and stderr go to
// logPath.
func RequireDetached(t testing.TB, pid int, logPath string) {
	t.Helper()
	sid, err := unix.Getsid(pid)
	if err != nil || sid != pid {
		t.Fatalf("pid %d: session %d (%v), want its own session", pid, sid, err)
	}
	for fd, want := range []string{os.DevNull, logPath, logPath} {
		if got := FDTarget(t, pid, fd); got != want {
			t.Fatalf("pid %d: fd %d is %s, want %s", pid, fd, got, want)
		}
	}
}
