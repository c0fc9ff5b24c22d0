//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

// Detach turns the calling process into a daemon once its socket accepts
// connections, as the child of `serve --daemon` or of chg does: it starts a
// new session (unless it already leads one), moves to pe.Chdir, points
// stdin at /dev/null and stdout and stderr at logFile (nil: /dev/null),
// then removes pe.Unlink, which tells the waiting parent that it is ready.
// Until then the process's messages still reach whoever started it.
//
// Detach changes process-wide state (session, cwd, fds 0-2): only the
// master of a service calls it, before it serves anyone.
func Detach(pe Postexec, logFile *os.File) error {
	if err := setsid(); err != nil {
		return err
	}
	if pe.Chdir != "" {
		if err := os.Chdir(pe.Chdir); err != nil {
			return fmt.Errorf("changing directory: %w", err)
		}
	}
	if err := redirectStdio(logFile); err != nil {
		return err
	}
	if pe.Unlink != "" {
		if err := os.Remove(pe.Unlink); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing lock file: %w", err)
		}
	}
	return nil
}

// setsid starts a new session. A child started with Setsid (as Spawn does)
// already leads one; setsid would fail with EPERM there.
func setsid() error {
	pid := os.Getpid()
	if sid, err := unix.Getsid(0); err == nil && sid == pid {
		return nil
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("starting a new session: %w", err)
	}
	return nil
}

// redirectStdio puts /dev/null on fd 0 and out (or /dev/null) on fds 1
// and 2. os.Stdout and os.Stderr keep their fd numbers, so every later
// write through them lands in the new place.
func redirectStdio(out *os.File) error {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", os.DevNull, err)
	}
	defer null.Close()
	if out == nil {
		out = null
	}
	for _, d := range []struct {
		from *os.File
		to   int
	}{{null, 0}, {out, 1}, {out, 2}} {
		if err := sysfd.Dup2(int(d.from.Fd()), d.to); err != nil {
			return fmt.Errorf("redirecting fd %d: %w", d.to, err)
		}
	}
	return nil
}

// RedirectOutput points fds 1 and 2 at f: the log file's rotation calls it
// so that stray writes to stdout and stderr follow the new file.
func RedirectOutput(f *os.File) error {
	for _, fd := range []int{1, 2} {
		if err := sysfd.Dup2(int(f.Fd()), fd); err != nil {
			return fmt.Errorf("redirecting fd %d: %w", fd, err)
		}
	}
	return nil
}
