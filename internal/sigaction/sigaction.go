// Package sigaction reads and sets a signal's disposition in the kernel,
// below the Go runtime. os/signal cannot undo what it did to a job-control
// signal: once notified, the runtime keeps its handler for SIGTSTP (and
// SIGTTIN, SIGTTOU, SIGCONT) through signal.Stop and signal.Reset, and that
// handler drops the signal. The chg client and the reused unix worker need
// the default action back; this is the one place that touches it.
package sigaction

import "errors"

// ErrUnsupported is returned where the kernel's struct sigaction is not
// known to this package (Supported is false).
var ErrUnsupported = errors.New("reading signal dispositions is not supported on this platform")
