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
	return os.NewFile(uintptr(inFD), "protocol-in"), os.NewFile(uintptr(outFD), "protocol-out"), nil
}
