//go:build !linux

package daemon

import (
	"errors"
	"os"
)

var errUnsupported = errors.New("daemon mode is only supported on Linux")

// Detach is only supported on Linux.
func Detach(pe Postexec, logFile *os.File) error { return errUnsupported }

// RedirectOutput is only supported on Linux.
func RedirectOutput(f *os.File) error { return errUnsupported }
