//go:build linux && (amd64 || arm64)

package unixfork

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelHandlerIsDefault reports whether sig's disposition in the kernel
// is SIG_DFL (known is false where it cannot be read). os/signal cannot
// tell: once notified, the runtime keeps its handler for a job-control
// signal after signal.Reset, and that handler drops the signal.
func kernelHandlerIsDefault(sig unix.Signal) (isDefault, known bool) {
	var old [8]uintptr // the kernel's struct sigaction, handler first
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig),
		0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	if errno != 0 {
		return false, false
	}
	return old[0] == 0, true // SIG_DFL is 0
}
