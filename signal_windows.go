package cmdsrv

import (
	"io"
	"os"
	"syscall"
)

// raiseDefault ends the process as Ctrl-C ends a plain program on
// Windows: there is no signal to re-raise, so exit with the status a
// console reports for it.
func raiseDefault(s os.Signal, _ io.Writer) {
	if s == os.Interrupt {
		code := uint32(0xC000013A) // STATUS_CONTROL_C_EXIT: what Ctrl-C leaves
		os.Exit(int(code))
	}
	if sig, ok := s.(syscall.Signal); ok {
		os.Exit(128 + int(sig))
	}
	os.Exit(255)
}

// replacesProcess: a Windows pipe server is one process, which an exit
// would end with its session (see initfiles.go).
const replacesProcess = false
