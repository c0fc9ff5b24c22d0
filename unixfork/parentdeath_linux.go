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
	forkerOnce.Do(func() {
		forks = make(chan forkRequest)
		go forker()
	})
	done := make(chan error, 1)
	forks <- forkRequest{cmd: cmd, done: done}
	return <-done
}

type forkRequest struct {
	cmd  *exec.Cmd
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
		r.done <- r.cmd.Start()
	}
}
