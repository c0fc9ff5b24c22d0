//go:build unix && !(linux && (amd64 || arm64))

package chgclient

import (
	"os"
	"syscall"
)

// suspendSelf stops this process until it is continued. Where the
// default action of SIGTSTP cannot be restored under the Go runtime
// (see suspend_linux.go), SIGSTOP stands for it: the shell then reports
// the job as stopped by a signal rather than by the terminal.
func suspendSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
}
