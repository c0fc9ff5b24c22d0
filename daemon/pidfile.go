//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// PIDFile is a pid file checked ahead of time, so that a bad path is
// reported before the server starts, and written only once the pid that
// actually serves is known. Nothing is created before Write: a server
// that fails to start leaves no file behind, nor the target of a
// dangling symbolic link at the path.
//
// Write never follows a symbolic link at the path, so that a server
// running as root cannot be made to overwrite another file by a link
// planted there: a replaced pid file is written to a new file in the same
// directory and renamed into place (which replaces a link, not its
// target); an appended one is opened without following links and must be
// a regular file of ours (see openOwned).
type PIDFile struct {
	dir, base  string
	appendMode bool
}

// OpenPIDFile checks the pid file at path, relative to the current
// directory: its directory must exist, and in appendMode the file must not
// be a symbolic link. With appendMode, Write adds a line to what the file
// holds, for callers that start several servers and stop them all at the
// end (Mercurial's test harness does); otherwise Write replaces it.
func OpenPIDFile(path string, appendMode bool) (*PIDFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening pid file: %w", err)
	}
	p := &PIDFile{dir: filepath.Dir(abs), base: filepath.Base(abs), appendMode: appendMode}
	fi, err := os.Stat(p.dir)
	if err != nil {
		return nil, fmt.Errorf("opening pid file: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("opening pid file: %s is not a directory", p.dir)
	}
	if appendMode {
		if fi, err := os.Lstat(abs); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("opening pid file: %w", &NotOwnedError{Path: abs, Reason: "is a symbolic link"})
		}
	}
	return p, nil
}

// Path returns the absolute path of the pid file.
func (p *PIDFile) Path() string { return filepath.Join(p.dir, p.base) }

// Write writes pid and a newline.
func (p *PIDFile) Write(pid int) error {
	line := []byte(strconv.Itoa(pid) + "\n")
	if p.appendMode {
		f, err := openOwned(p.Path(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("opening pid file: %w", err)
		}
		defer f.Close()
		if _, err := f.Write(line); err != nil {
			return fmt.Errorf("writing pid file: %w", err)
		}
		return nil
	}
	if err := replaceFile(p.dir, p.base, line, 0o644); err != nil {
		return fmt.Errorf("writing pid file: %w", err)
	}
	return nil
}

// NotOwnedError is the refusal of a pid or log file that another user
// could have planted: a symbolic link, a file owned by someone else, or a
// file with other hard links (as sshd refuses such key files).
type NotOwnedError struct {
	Path   string
	Reason string
}

func (e *NotOwnedError) Error() string {
	return fmt.Sprintf("refusing %s: it %s (remove it, or name another path)", e.Path, e.Reason)
}

// ErrNotOwned matches every *NotOwnedError with errors.Is.
var ErrNotOwned = errors.New("file not owned by this user")

// Is makes errors.Is(err, ErrNotOwned) true.
func (e *NotOwnedError) Is(target error) bool { return target == ErrNotOwned }
