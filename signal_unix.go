//go:build unix

package cmdsrv

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// raiseDefault ends the process with s as a plain program that does not
// catch s ends: the default disposition back, then s sent to ourselves,
// so that the parent's wait status says "killed by s" (a shell loop
// stops on it). Should the signal not end us (blocked by something we do
// not control), exit with the shell's status for it.
func raiseDefault(s os.Signal, stderr io.Writer) {
	signal.Reset(s)
	sig, ok := s.(syscall.Signal)
	if ok {
		_ = syscall.Kill(os.Getpid(), sig)
		time.Sleep(time.Second)
	}
	fmt.Fprintf(stderr, "abort: %v did not end the process\n", s)
	if ok {
		os.Exit(128 + int(sig))
	}
	os.Exit(255)
}

// replacesProcess: a Unix pipe server's parent replaces a child that
// exits in a command, answering its client with the status (see
// initfiles.go).
const replacesProcess = true
