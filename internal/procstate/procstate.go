package procstate

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
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

// vars is the part of the process state that Go code reaches on every
// platform: the working directory, the environment and os.Args.
type vars struct {
	dir       string
	env, args []string
}

// saveVars records the process's vars, to be put back by restore.
func saveVars() (vars, error) {
	dir, err := getwd()
	if err != nil {
		return vars{}, fmt.Errorf("getting working directory: %w", err)
	}
	return vars{dir: dir, env: os.Environ(), args: os.Args}, nil
}

// lend makes the vars req's: its directory (always set: Request.Dir is
// absolute), its environment (set only when it differs: a pipe session's
// usually is the server's) and os.Args.
func (v vars) lend(req *protocol.Request, argv0 string) error {
	if err := os.Chdir(req.Dir); err != nil {
		return fmt.Errorf("lending working directory: %w", err)
	}
	if !slices.Equal(req.Env, v.env) {
		if err := setEnviron(req.Env); err != nil {
			return err
		}
	}
	os.Args = append([]string{argv0}, req.Args...)
	return nil
}

// restore puts the vars back, unconditionally: the command may have
// changed them itself.
func (v vars) restore() []error {
	var errs []error
	if err := os.Chdir(v.dir); err != nil {
		errs = append(errs, fmt.Errorf("restoring working directory: %w", err))
	}
	if !slices.Equal(os.Environ(), v.env) {
		if err := setEnviron(v.env); err != nil {
			errs = append(errs, err)
		}
	}
	os.Args = v.args
	return errs
}

// setEnviron makes the environment exactly env.
func setEnviron(env []string) error {
	os.Clearenv()
	for _, kv := range env {
		// A name may start with '=' (Windows' per-drive directories,
		// "=C:=C:\x"): the separator is the first '=' after that.
		i := strings.IndexByte(kv[min(1, len(kv)):], '=')
		if i < 0 {
			continue
		}
		k, v := kv[:i+1], kv[i+2:]
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("setting environment %s: %w", k, err)
		}
	}
	return nil
}
