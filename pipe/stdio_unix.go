//go:build unix

package pipe

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

func protectStdio() (in, out *os.File, err error) {
	inFD, err := sysfd.Dup(0)
	if err != nil {
		return nil, nil, fmt.Errorf("duplicating stdin: %w", err)
	}
	outFD, err := sysfd.Dup(1)
	if err != nil {
		unix.Close(inFD)
		return nil, nil, fmt.Errorf("duplicating stdout: %w", err)
	}
	// fail gives back what was taken: the copies, and stdin if it was
	// already redirected, so that a failure leaves the process as it was.
	stdinMoved := false
	fail := func(err error) (*os.File, *os.File, error) {
		if stdinMoved {
			_ = sysfd.Dup2(inFD, 0)
		}
		unix.Close(inFD)
		unix.Close(outFD)
		return nil, nil, err
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return fail(fmt.Errorf("opening %s: %w", os.DevNull, err))
	}
	defer null.Close()
	if err := sysfd.Dup2(int(null.Fd()), 0); err != nil {
		return fail(fmt.Errorf("redirecting stdin: %w", err))
	}
	stdinMoved = true
	if err := sysfd.Dup2(2, 1); err != nil {
		return fail(fmt.Errorf("redirecting stdout: %w", err))
	}
	// Larger pipe buffers let big frames through in fewer wake-ups; not
	// every descriptor is a pipe, and failing here costs only speed.
	growPipe(inFD)
	growPipe(outFD)
	return os.NewFile(uintptr(inFD), "protocol-in"), os.NewFile(uintptr(outFD), "protocol-out"), nil
}
