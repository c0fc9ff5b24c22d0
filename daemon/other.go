//go:build !unix

package daemon

import (
	"errors"
	"os"
)

var errUnsupported = errors.New("daemon mode is not supported on this platform")

// Detach is not supported on this platform (Windows).
func Detach(pe Postexec, logFile *os.File) error { return errUnsupported }

// RedirectOutput is not supported on this platform (Windows).
func RedirectOutput(f *os.File) error { return errUnsupported }
