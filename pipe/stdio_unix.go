//go:build unix

package pipe

import (
	"fmt"
	"os"
	"syscall"
)

func protectStdio() (in, out *os.File, err error) {
	inFD, err := syscall.Dup(0)
	if err != nil {
		return nil, nil, fmt.Errorf("duplicating stdin: %w", err)
	}
	outFD, err := syscall.Dup(1)
	if err != nil {
		syscall.Close(inFD)
		return nil, nil, fmt.Errorf("duplicating stdout: %w", err)
	}
	syscall.CloseOnExec(inFD)
	syscall.CloseOnExec(outFD)
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", os.DevNull, err)
	}
	defer null.Close()
	if err := dup2(int(null.Fd()), 0); err != nil {
		return nil, nil, fmt.Errorf("redirecting stdin: %w", err)
	}
	if err := dup2(2, 1); err != nil {
		return nil, nil, fmt.Errorf("redirecting stdout: %w", err)
	}
	// Larger pipe buffers let big frames through in fewer wake-ups; not
	// every descriptor is a pipe, and failing here costs only speed.
	growPipe(inFD)
	growPipe(outFD)
	return protocolIn(inFD), os.NewFile(uintptr(outFD), "protocol-out"), nil
}

// protocolIn wraps the duplicate of stdin. When it is a pipe or a socket
// it is made non-blocking, which makes os.NewFile return a file Go's poller
// reads: Close then interrupts a read in progress, so Serve can end its
// session on a signal (a blocking descriptor's Close waits for the read).
// Terminals and regular files stay as they are: their flags are shared
// with the processes that opened them (the shell of a terminal).
func protocolIn(fd int) *os.File {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err == nil {
		switch uint32(st.Mode) & syscall.S_IFMT {
		case syscall.S_IFIFO, syscall.S_IFSOCK:
			_ = syscall.SetNonblock(fd, true)
		}
	}
	return os.NewFile(uintptr(fd), "protocol-in")
}
