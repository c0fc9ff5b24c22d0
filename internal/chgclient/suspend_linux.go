//go:build linux && (amd64 || arm64)

package chgclient

import (
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/sigaction"
)

// suspendSelf stops this process with SIGTSTP's default action, as chg
// does after forwarding it, and returns once the process is continued.
// signal.Reset cannot do it: the Go runtime keeps its own handler for
// SIGTSTP and then ignores the signal. So the default action is set
// with sigaction and the signal raised on this very thread (tgkill, so
// that it is acted on before the call returns), then the runtime's
// handler is put back. A stop signal is what the shell expects: it
// reports the job as stopped by SIGTSTP, and the kernel discards it in
// an orphaned process group, where no one could continue us.
func suspendSelf() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := sigaction.Get(syscall.SIGTSTP)
	if err == nil {
		err = sigaction.Set(syscall.SIGTSTP, sigaction.Action{})
	}
	if err != nil {
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		return
	}
	_ = unix.Tgkill(os.Getpid(), unix.Gettid(), syscall.SIGTSTP)
	_ = sigaction.Set(syscall.SIGTSTP, old)
}
