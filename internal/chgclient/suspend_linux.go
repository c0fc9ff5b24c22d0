//go:build linux && (amd64 || arm64)

package chgclient

import (
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction is the kernel's struct sigaction on amd64 and arm64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

func rtSigaction(sig syscall.Signal, act, old *kernelSigaction) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

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
	var old kernelSigaction
	if err := rtSigaction(syscall.SIGTSTP, nil, &old); err != nil {
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		return
	}
	if err := rtSigaction(syscall.SIGTSTP, &kernelSigaction{}, nil); err != nil {
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		return
	}
	_ = unix.Tgkill(os.Getpid(), unix.Gettid(), syscall.SIGTSTP)
	_ = rtSigaction(syscall.SIGTSTP, &old, nil)
}
