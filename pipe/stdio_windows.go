package pipe

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// protectStdio is ProtectStdio for Windows, where "fd 0 and 1" are the
// process's standard handles: what child processes inherit and what
// GetStdHandle returns to native code. Go's os.Stdin and os.Stdout hold
// their own copies of the handles, so they are replaced too.
func protectStdio() (in, out *os.File, err error) {
	inH, err := dupStdHandle(windows.STD_INPUT_HANDLE)
	if err != nil {
		return nil, nil, fmt.Errorf("duplicating stdin: %w", err)
	}
	outH, err := dupStdHandle(windows.STD_OUTPUT_HANDLE)
	if err != nil {
		windows.CloseHandle(inH)
		return nil, nil, fmt.Errorf("duplicating stdout: %w", err)
	}
	// The originals stay open (code that kept os.Stdin or os.Stdout before
	// this may still use them) but are no longer inherited: a process that a
	// command starts with bInheritHandles=TRUE, as native code and cmd.exe's
	// start do, would otherwise hold the client's pipes open after the
	// server has exited, and the client would see the end of its output
	// only when that process ends. A failure here costs only that.
	for _, std := range []uint32{windows.STD_INPUT_HANDLE, windows.STD_OUTPUT_HANDLE} {
		if h, err := windows.GetStdHandle(std); err == nil {
			_ = windows.SetHandleInformation(h, windows.HANDLE_FLAG_INHERIT, 0)
		}
	}
	in = os.NewFile(uintptr(inH), "protocol-in")
	out = os.NewFile(uintptr(outH), "protocol-out")
	fail := func(err error) (*os.File, *os.File, error) {
		in.Close()
		out.Close()
		return nil, nil, err
	}
	// The NUL handle stays open for the rest of the process: it is stdin now.
	null, err := os.Open(os.DevNull)
	if err != nil {
		return fail(fmt.Errorf("opening %s: %w", os.DevNull, err))
	}
	if err := windows.SetStdHandle(windows.STD_INPUT_HANDLE, windows.Handle(null.Fd())); err != nil {
		null.Close()
		return fail(fmt.Errorf("redirecting stdin: %w", err))
	}
	// A duplicate of stderr rather than the same handle, so that closing
	// stdout later does not close stderr (as dup2(2, 1) on Unix).
	errH, err := dupStdHandle(windows.STD_ERROR_HANDLE)
	if err != nil {
		return fail(fmt.Errorf("duplicating stderr: %w", err))
	}
	if err := windows.SetStdHandle(windows.STD_OUTPUT_HANDLE, errH); err != nil {
		windows.CloseHandle(errH)
		return fail(fmt.Errorf("redirecting stdout: %w", err))
	}
	os.Stdin = null
	os.Stdout = os.NewFile(uintptr(errH), "/dev/stdout")
	return in, out, nil
}

// dupStdHandle returns a non-inheritable duplicate of a standard handle,
// so that a child process started by a command never holds the protocol's
// pipe open (what close-on-exec does on Unix).
func dupStdHandle(std uint32) (windows.Handle, error) {
	h, err := windows.GetStdHandle(std)
	if err != nil {
		return 0, err
	}
	if h == 0 || h == windows.InvalidHandle {
		return 0, fmt.Errorf("no standard handle %d", int32(std))
	}
	p := windows.CurrentProcess()
	var dup windows.Handle
	if err := windows.DuplicateHandle(p, h, p, &dup, 0, false, windows.DUPLICATE_SAME_ACCESS); err != nil {
		return 0, err
	}
	return dup, nil
}
