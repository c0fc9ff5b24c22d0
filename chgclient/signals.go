//go:build unix

package chgclient

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// forwardedSignals are the signals chg forwards while a command runs.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGWINCH,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCONT, syscall.SIGTSTP}

// forwarder catches the forwarded signals and, once started, forwards them
// to the server with chg's targets: SIGINT and SIGHUP to the worker's
// process group; SIGTERM, SIGWINCH, SIGUSR1, SIGUSR2 and SIGCONT to its
// pid; SIGTSTP to its pid and then to this process, so Ctrl-Z stops both
// and `fg` resumes both.
type forwarder struct {
	sigs    chan os.Signal
	caught  chan struct{} // closed once signal.Notify has returned
	done    chan struct{} // closed by release: the forwarding goroutine ends
	wg      sync.WaitGroup
	stopped bool // signal.Stop was called
}

// catchSignals starts catching the forwarded signals. signal.Notify takes
// a few hundred microseconds (a hand-off to the runtime per signal), as
// long as a whole command on a warm server, so it runs in the background
// while the client connects; start waits for it.
func catchSignals() *forwarder {
	f := &forwarder{sigs: make(chan os.Signal, 16), caught: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.caught)
		signal.Notify(f.sigs, forwardedSignals...)
	}()
	return f
}

// start forwards the signals caught so far and from now on to the worker
// pid (process group pgid). It reports interrupted, and forwards nothing,
// when SIGINT, SIGHUP or SIGTERM came before: the user gave up before the
// command was handed over, and it must not run.
func (f *forwarder) start(pid, pgid int) (interrupted bool) {
	<-f.caught
	var pending []syscall.Signal
	for len(f.sigs) > 0 {
		s := (<-f.sigs).(syscall.Signal)
		if s == syscall.SIGINT || s == syscall.SIGHUP || s == syscall.SIGTERM {
			interrupted = true
		}
		pending = append(pending, s)
	}
	if interrupted {
		return true
	}
	if pid <= 0 {
		// Nowhere to forward to: the signals act on this process.
		signal.Stop(f.sigs)
		f.stopped = true
		return false
	}
	group := -pgid
	if pgid <= 1 {
		group = pid
	}
	forward := func(s syscall.Signal) {
		switch s {
		case syscall.SIGINT, syscall.SIGHUP:
			_ = syscall.Kill(group, s)
		case syscall.SIGTSTP:
			_ = syscall.Kill(pid, s)
			suspendSelf()
		default:
			_ = syscall.Kill(pid, s)
		}
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for _, s := range pending {
			forward(s)
		}
		for {
			select {
			case <-f.done:
				return
			case sig := <-f.sigs:
				forward(sig.(syscall.Signal))
			}
		}
	}()
	return false
}

// release stops forwarding. With restore, the signals get back the
// handling they had before catchSignals (signal.Stop, as long again as
// Notify); a caller that exits right away skips it, and a signal that
// comes in between is discarded.
func (f *forwarder) release(restore bool) {
	close(f.done)
	f.wg.Wait()
	<-f.caught
	if restore && !f.stopped {
		signal.Stop(f.sigs)
	}
}
