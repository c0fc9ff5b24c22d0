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

// tstpAction is SIGTSTP's disposition before the client caught it.
type tstpAction struct {
	act   kernelSigaction
	valid bool
}

// saveTSTP reads SIGTSTP's disposition before signal.Notify, when it is
// the default action or ignored: the ones signal.Stop does not give back
// (the runtime keeps its handler, which then drops the signal). A handler
// of the runtime's already (the caller catches SIGTSTP itself) is not
// saved: it is the caller's to keep.
func saveTSTP() tstpAction {
	var old kernelSigaction
	if err := rtSigaction(syscall.SIGTSTP, nil, &old); err != nil {
		return tstpAction{}
	}
	const sigDFL, sigIGN = 0, 1
	return tstpAction{act: old, valid: old.handler == sigDFL || old.handler == sigIGN}
}

// restore puts the saved disposition back, after signal.Stop, so that the
// caller's process can be stopped with Ctrl-Z again.
func (a tstpAction) restore() {
	if a.valid {
		_ = rtSigaction(syscall.SIGTSTP, &a.act, nil)
	}
}

// canRestoreTSTP: SIGTSTP's disposition can be given back after it was
// caught.
const canRestoreTSTP = true
