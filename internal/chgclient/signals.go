//go:build unix

package chgclient

import (
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// forwardedSignals are the signals chg forwards while a command runs.
// SIGTSTP comes last: the client's tests take it being caught
// (/proc/PID/status) as the sign that all of them are.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGWINCH,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCONT, syscall.SIGTSTP}

// catchDelay is how long a command runs before the client starts catching
// the signals it forwards. signal.Notify takes a few hundred microseconds
// (a round trip to a runtime thread per signal, and a thread of its own),
// as long as a whole command on a warm server, and even in the background
// it costs a short call that much; a command that ends sooner never pays
// it. Nobody reacts to a command faster than this.
const catchDelay = 10 * time.Millisecond

// forwarder catches the forwarded signals and forwards them to the server
// with chg's targets: SIGINT and SIGHUP to the worker's process group;
// SIGTERM, SIGWINCH, SIGUSR1, SIGUSR2 and SIGCONT to its pid; SIGTSTP to
// its pid and then to this process, so Ctrl-Z stops both and `fg` resumes
// both.
type forwarder struct {
	pid, group int
	// restore: release will give the signals back (Options.ExitAfter
	// unset); tstp is SIGTSTP's disposition from before catch.
	restore  bool
	tstp     tstpAction
	sigs     chan os.Signal
	timer    *time.Timer   // runs catch after catchDelay
	once     sync.Once     // guards notified: catch, or release stopping it
	notified bool          // signal.Notify was called
	done     chan struct{} // closed by release: the forwarding goroutine ends
	wg       sync.WaitGroup
	// ending is the last of SIGINT, SIGTERM and SIGHUP forwarded: see
	// endAsServer.
	ending atomic.Int32
}

// forwardSignals forwards signals to the worker pid (process group pgid)
// from catchDelay after the command was handed over, or from its first
// system or pager request. Until then the signals keep their default
// actions, as in chg before it hands a command over: SIGINT, SIGTERM or
// SIGHUP end the client (and the server, seeing the connection close,
// interrupts the command), SIGTSTP stops the client alone. With restore,
// release gives them back (see release).
func forwardSignals(pid, pgid int, restore bool) *forwarder {
	f := &forwarder{pid: pid, group: -pgid, restore: restore, sigs: make(chan os.Signal, 16), done: make(chan struct{})}
	if pgid <= 1 {
		f.group = pid
	}
	if pid > 0 { // else nowhere to forward to: the signals act on this process
		f.timer = time.AfterFunc(catchDelay, f.catch)
	}
	return f
}

// catch starts catching and forwarding the signals, once, unless release
// came first. It returns when signal.Notify has.
func (f *forwarder) catch() {
	if f.pid <= 0 {
		return
	}
	f.once.Do(func() {
		select {
		case <-f.done:
			return
		default:
		}
		sigs := forwardedSignals
		if f.restore {
			if canRestoreTSTP {
				f.tstp = saveTSTP()
			} else {
				// Caught once, SIGTSTP could not be given back: the
				// caller could no longer be stopped. Ctrl-Z then stops
				// this process alone, not the command.
				sigs = sigs[:len(sigs)-1]
			}
		}
		signal.Notify(f.sigs, sigs...)
		if f.restore && canRestoreTSTP {
			armTSTP()
		}
		f.notified = true
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				select {
				case <-f.done:
					return
				case sig := <-f.sigs:
					f.forward(sig.(syscall.Signal))
				}
			}
		}()
	})
}

func (f *forwarder) forward(s syscall.Signal) {
	switch s {
	case syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP:
		f.ending.Store(int32(s))
	}
	switch s {
	case syscall.SIGINT, syscall.SIGHUP:
		_ = syscall.Kill(f.group, s)
	case syscall.SIGTSTP:
		_ = syscall.Kill(f.pid, s)
		suspendSelf()
	default:
		_ = syscall.Kill(f.pid, s)
	}
}

// endAsServer ends this process by the signal it forwarded when the
// command's status says the server's side died of it (128+N: a cmdsrv
// worker that a command ignoring its context kept running past the grace
// is ended by the signal, and its master reports that): a shell then sees
// this client killed by the signal, as it would the plain program, and a
// shell loop stops on a Ctrl-C. It returns if the status is any other, or
// if the signal does not end the process.
func (f *forwarder) endAsServer(code int) {
	s := syscall.Signal(f.ending.Load())
	if s == 0 || code != 128+int(s) {
		return
	}
	signal.Reset(s)
	_ = syscall.Kill(os.Getpid(), s)
	time.Sleep(100 * time.Millisecond) // delivered by now, unless ignored
}

// release stops forwarding. With restore, it waits for the forwarding to
// end and gives the signals back the handling they had before (signal.Stop,
// as long again as Notify); a caller that exits right away skips both, and
// a signal that comes in between is discarded. signal.Stop leaves the
// runtime's handler on SIGTSTP, which then drops the signal: its default
// action (or SIG_IGN) is put back with sigaction where the platform allows
// it (Linux on amd64 and arm64); elsewhere SIGTSTP is not caught when a
// restore is expected.
func (f *forwarder) release(restore bool) {
	close(f.done)
	if f.timer != nil {
		f.timer.Stop()
	}
	if !restore {
		return
	}
	f.once.Do(func() {}) // waits for a catch under way, and forbids a later one
	f.wg.Wait()
	if f.notified {
		signal.Stop(f.sigs)
		f.tstp.restore()
	}
}
