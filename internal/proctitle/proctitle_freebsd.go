package proctitle

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Supported reports whether Set can change what ps shows.
const Supported = true

// kernProc and kernProcArgs name kern.proc.args (<sys/sysctl.h>), the
// sysctl that setproctitle(3) writes: ps shows what it holds instead of
// the arguments in the process's memory.
const (
	kernProc     = 14
	kernProcArgs = 7
)

// Get returns the current argument string as the kernel reports it
// (arguments separated by NUL bytes), "" when it cannot be read.
func Get() string {
	b, err := unix.SysctlRaw("kern.proc.args", os.Getpid())
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\x00")
}

// Set replaces the argument string ps shows for this process. The kernel
// refuses strings longer than kern.ps_arg_cache_limit (256 bytes by
// default).
func Set(title string) error {
	mib := [4]int32{unix.CTL_KERN, kernProc, kernProcArgs, int32(os.Getpid())}
	buf := append([]byte(title), 0)
	_, _, errno := unix.Syscall6(unix.SYS___SYSCTL, uintptr(unsafe.Pointer(&mib[0])), uintptr(len(mib)),
		0, 0, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if errno != 0 {
		return fmt.Errorf("setting process title: %w", errno)
	}
	return nil
}
