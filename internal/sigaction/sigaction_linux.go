//go:build linux && (amd64 || arm64)

package sigaction

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Supported reports whether Get and Set work here.
const Supported = true

// Action is a disposition: the kernel's struct sigaction on amd64 and
// arm64. The zero Action is the default action (SIG_DFL).
type Action struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// Dispositions that are not a handler.
const (
	sigDFL = 0
	sigIGN = 1
)

// IsDefault reports whether a is SIG_DFL.
func (a Action) IsDefault() bool { return a.handler == sigDFL }

// IsIgnored reports whether a is SIG_IGN.
func (a Action) IsIgnored() bool { return a.handler == sigIGN }

// Get returns sig's disposition.
func Get(sig syscall.Signal) (Action, error) {
	var old Action
	err := rtSigaction(sig, nil, &old)
	return old, err
}

// Set makes a sig's disposition.
func Set(sig syscall.Signal, a Action) error { return rtSigaction(sig, &a, nil) }

func rtSigaction(sig syscall.Signal, act, old *Action) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
