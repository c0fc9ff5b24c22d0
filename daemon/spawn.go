//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/selfexe"
)

// ErrChildFailed is returned by Spawn.Start when the child exits before it
// is ready. The child's own messages have been relayed to Spawn.Stderr by
// then.
var ErrChildFailed = errors.New("child process failed to start")

// Spawn describes the detached child that `serve --daemon` starts: the same
// program, re-executed from /proc/self/exe on Linux so that a binary
// replaced on disk cannot mix versions (os.Executable elsewhere: see
// internal/selfexe).
type Spawn struct {
	// Args0 is the child's os.Args[0]; the caller's own os.Args[0], so that
	// a program that picks its role from its name (testscript) stays the
	// same program. Empty: os.Args[0].
	Args0 string
	// Args are the caller's arguments after Args0. Start drops --cwd (the
	// caller has already moved there) and adds --daemon-postexec
	// unlink:LOCK.
	Args []string
	// Env is the child's environment; nil: the caller's.
	Env []string
	// Stderr receives what the child writes to its stdout and stderr until
	// it is ready (its error messages, when it fails to start).
	Stderr io.Writer
	// Poll is how often Start checks the lock file; zero: 10 ms.
	Poll time.Duration
}

// relayGrace bounds how long Start waits, once the child is ready or
// gone, for the last of the child's output. The child closes its end of
// the pipe before it is ready, so this only matters when something it
// started still holds the pipe open.
const relayGrace = 2 * time.Second

// Start starts the child and waits until it is ready (it has removed the
// lock file) or has exited. It returns the child's pid, or ErrChildFailed
// (wrapped) when the child exited first. There is no time limit: like
// Mercurial, Start waits as long as the child is alive and not ready.
func (s *Spawn) Start() (int, error) {
	lock, err := os.CreateTemp("", "cmdsrv-service-")
	if err != nil {
		return 0, fmt.Errorf("creating lock file: %w", err)
	}
	lockPath := lock.Name()
	lock.Close()
	defer os.Remove(lockPath)

	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, fmt.Errorf("opening %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("creating pipe for the child's output: %w", err)
	}
	defer r.Close()

	args0 := s.Args0
	if args0 == "" {
		args0 = os.Args[0]
	}
	exe, err := selfexe.Path()
	if err != nil {
		return 0, fmt.Errorf("starting child process: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        append([]string{args0}, ChildArgs(s.Args, lockPath)...),
		Env:         s.Env,
		Stdin:       devnull,
		Stdout:      w,
		Stderr:      w,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close() // the child holds the only write end now
	if err != nil {
		return 0, fmt.Errorf("starting child process: %w", err)
	}

	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		out := s.Stderr
		if out == nil {
			out = io.Discard
		}
		_, _ = io.Copy(out, r) // ends at EOF, or when Start closes r
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	poll := s.Poll
	if poll <= 0 {
		poll = 10 * time.Millisecond
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			waitRelay(relayed)
			return 0, fmt.Errorf("%w (%v)", ErrChildFailed, exitReason(err))
		case <-tick.C:
			if _, err := os.Lstat(lockPath); !errors.Is(err, os.ErrNotExist) {
				continue
			}
			waitRelay(relayed)
			// The Wait goroutine goes on reaping the child should it exit
			// before this process does; the child outlives us otherwise.
			return cmd.Process.Pid, nil
		}
	}
}

func waitRelay(done <-chan struct{}) {
	t := time.NewTimer(relayGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

func exitReason(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// ChildArgs returns args (without Args[0]) for the detached child: every
// --cwd option removed, as the parent has already changed directory, and
// --daemon-postexec unlink:LOCK added.
func ChildArgs(args []string, lock string) []string {
	out := make([]string, 0, len(args)+1)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--cwd" {
			i++ // and its value
			continue
		}
		if strings.HasPrefix(a, "--cwd=") {
			continue
		}
		out = append(out, a)
	}
	return append(out, "--daemon-postexec=unlink:"+lock)
}
