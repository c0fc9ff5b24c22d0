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

// tstpAction would be SIGTSTP's disposition before the client caught it;
// it cannot be given back here (see suspend_linux.go), so a client that
// must give the signals back does not catch SIGTSTP (canRestoreTSTP).
type tstpAction struct{}

func saveTSTP() tstpAction { return tstpAction{} }

func (tstpAction) restore() {}

const canRestoreTSTP = false
