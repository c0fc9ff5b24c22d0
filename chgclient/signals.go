package chgclient

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// forwardSignals forwards signals to the server while a command runs, with
// chg's targets: SIGINT and SIGHUP to the worker's process group; SIGTERM,
// SIGWINCH, SIGUSR1, SIGUSR2 and SIGCONT to its pid; SIGTSTP to its pid and
// then to this process, so Ctrl-Z stops both and `fg` resumes both.
func forwardSignals(pid, pgid int) (stop func()) {
	if pid <= 0 {
		return func() {}
	}
	group := -pgid
	if pgid <= 1 {
		group = pid
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGWINCH,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCONT, syscall.SIGTSTP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				s := sig.(syscall.Signal)
				switch s {
				case syscall.SIGINT, syscall.SIGHUP:
					_ = syscall.Kill(group, s)
				case syscall.SIGTSTP:
					_ = syscall.Kill(pid, s)
					suspendSelf(sigs)
				default:
					_ = syscall.Kill(pid, s)
				}
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
	}
}

// suspendSelf stops this process with the default SIGTSTP action and
// returns once it is continued.
func suspendSelf(sigs chan os.Signal) {
	signal.Reset(syscall.SIGTSTP)
	// A signal sent to the calling process is delivered before kill
	// returns, so the process stops here until SIGCONT.
	_ = syscall.Kill(os.Getpid(), syscall.SIGTSTP)
	signal.Notify(sigs, syscall.SIGTSTP)
}
