//go:build !linux

package unixfork

import "os/exec"

// startWorkerProcess starts a worker. Without a parent-death signal here,
// a worker learns that its master is gone from end of input on its
// control socketpair: an idle one exits then, a busy one after its client.
func startWorkerProcess(cmd *exec.Cmd) error { return cmd.Start() }

func execOnForker(exec func() error) error { return exec() }
