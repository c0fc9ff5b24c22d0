package procstate

import (
	"io"
	"os"
	"sync"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// held serialises lending: a process has one set of descriptors, one
// directory, one environment.
var held sync.Mutex

// Lend runs fn with the process's state made req's: fds 0-2 read from
// req.Stdin and write to req.Stdout and req.Stderr, the working directory
// is req.Dir, the environment req.Env, and os.Args argv0 followed by
// req.Args. During fn, req's own Stdout and Stderr are replaced by
// writers that first forward what fds 1 and 2 hold, so that the two
// paths keep their order. Everything is put back before Lend returns; an
// error is from setting up or putting back (fn's status is kept).
func Lend(req *protocol.Request, argv0 string, fn func() int) (int, error) {
	held.Lock()
	defer held.Unlock()
	return lend(req, argv0, fn)
}

// LendArgs runs fn with os.Args made argv0 followed by req.Args, for a
// command whose process is the client's otherwise (chg's attached stdio).
func LendArgs(req *protocol.Request, argv0 string, fn func() int) (int, error) {
	held.Lock()
	defer held.Unlock()
	old := os.Args
	defer func() { os.Args = old }()
	os.Args = append([]string{argv0}, req.Args...)
	return fn(), nil
}

// syncWriter writes to w after the relay has forwarded what the
// descriptors hold.
type syncWriter struct {
	flush func()
	w     io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.flush()
	return s.w.Write(p)
}
