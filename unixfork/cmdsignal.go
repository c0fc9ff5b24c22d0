package unixfork

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// DefaultSignalGrace is Worker.SignalGrace's default, as a direct run's
// (cmdsrv.DefaultSignalGrace).
const DefaultSignalGrace = 250 * time.Millisecond

// signalCommand cancels sess's running command with sig as its cause
// (SIGINT from a client's Ctrl-C, SIGTERM) and reports whether one ran.
// A command that has not returned within Worker.SignalGrace, or that
// gets a second signal meanwhile, ends as a plain program that does not
// catch sig would: the worker dies of it, and the master answers the
// client with its status (handoff.go). A Handler that watches its
// context returns within the grace, after its cleanup, with the status
// it chooses.
func (rw *runningWorker) signalCommand(sess *session.Session, sig os.Signal) bool {
	if !sess.InterruptWith(&protocol.SignalError{Signal: sig}) {
		return false
	}
	n := sess.CommandsDone()
	rw.sigMu.Lock()
	again := rw.sigSess == sess && rw.sigCommand == n
	rw.sigSess, rw.sigCommand = sess, n
	rw.sigMu.Unlock()
	if again {
		rw.dieOf(sig)
	}
	grace := rw.w.SignalGrace
	if grace == 0 {
		grace = DefaultSignalGrace
	}
	if grace > 0 {
		time.AfterFunc(grace, func() {
			if sess.Busy() && sess.CommandsDone() == n {
				rw.log.Info("command still running after the signal's grace; ending the worker by it", "signal", sig, "grace", grace)
				rw.dieOf(sig)
			}
		})
	}
	return true
}

// dieOf ends the worker by sig's default action, after hanging up the
// shells the command started in groups of their own (a plain program's
// Ctrl-C reaches its whole foreground group). Should sig not end it
// (ignored when the master started), it exits with a shell's status for
// the signal, which the master reports the same way.
func (rw *runningWorker) dieOf(sig os.Signal) {
	wire.HangUpShells(shellHangupGrace)
	s, ok := sig.(syscall.Signal)
	if !ok {
		os.Exit(255)
	}
	signal.Reset(sig)
	_ = unix.Kill(os.Getpid(), s)
	time.Sleep(time.Second)
	os.Exit(128 + int(s))
}
