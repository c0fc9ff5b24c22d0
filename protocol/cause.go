package protocol

import (
	"errors"
	"os"
	"syscall"
)

// Why a command's context was cancelled. A Handler reads it with
// context.Cause(ctx) once ctx is done, in every mode: a direct run, a pipe
// server, a unix worker and chg.

// SignalError is the cause when a signal interrupted the command: SIGINT,
// SIGTERM or SIGHUP to a direct run; SIGINT to a pipe server or to a unix
// or chg worker (Ctrl-C, which chg and the Go clients forward), SIGTERM and
// SIGHUP to a pipe server.
type SignalError struct {
	Signal os.Signal
}

func (e *SignalError) Error() string { return "interrupted by signal " + e.Signal.String() }

// ExitCode returns 128+N for signal N, the status a shell reports for a
// process a signal ended (130 for SIGINT): a Handler that cleans up and
// returns it looks, to a script, like a plain program ended by the signal.
func (e *SignalError) ExitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 255
}

// ErrHangup is the cause when the client went away while its command ran
// (its end of the pipe or socket closed).
var ErrHangup = errors.New("client hung up")

// ExitCodeOf returns the exit status a command cancelled with cause should
// end with: a SignalError's ExitCode, 255 for anything else (a hang-up,
// the server shutting down).
func ExitCodeOf(cause error) int {
	var se *SignalError
	if errors.As(cause, &se) {
		return se.ExitCode()
	}
	return 255
}
