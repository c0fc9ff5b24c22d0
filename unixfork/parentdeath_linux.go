//go:build linux

package unixfork

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// startWorkerProcess starts a worker that the kernel kills (SIGKILL, which
// a stopped process gets too) when the master dies, so that no worker
// outlives its master holding the listening socket.
//
// The kernel sends that signal when the thread that forked the worker
// ends, not the process, and the Go runtime ends a thread whose goroutine
// exits locked to it. So every worker is forked from one goroutine locked
// to its thread for good: that thread ends with the process only.
func startWorkerProcess(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	return onForker(forkRequest{cmd: cmd})
}

// execOnForker runs exec (the hand-over's execve) on the thread that
// forked the workers. Executing from any other thread would end that
// thread, and the kernel would kill every worker, busy ones with their
// clients, instead of letting them finish.
func execOnForker(exec func() error) error {
	return onForker(forkRequest{exec: exec})
}

func onForker(r forkRequest) error {
	forkerOnce.Do(func() {
		forks = make(chan forkRequest)
		go forker()
	})
	done := make(chan error, 1)
	r.done = done
	forks <- r
	return <-done
}

type forkRequest struct {
	cmd  *exec.Cmd
	exec func() error
	done chan<- error
}

var (
	forkerOnce sync.Once
	forks      chan forkRequest
)

// forker starts the workers, on a thread that never ends before the process.
func forker() {
	runtime.LockOSThread() // never unlocked
	for r := range forks {
		if r.exec != nil {
			r.done <- r.exec()
			continue
		}
		r.done <- r.cmd.Start()
	}
}
