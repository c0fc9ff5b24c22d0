//go:build unix

package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// LogFile is the server's log file: opened in append mode (created with
// mode 0600: it holds what clients ran), never through a symbolic link
// and never when another user owns it (a server running as root must not
// append to a file someone planted at the path), and rotated the way Mercurial rotates
// cmdserver.log. Before a write, when the file has reached MaxSize bytes,
// PATH.N-1 becomes PATH.N ... PATH becomes PATH.1 and a new PATH is
// started, so at most MaxFiles files exist. The check is made on the path,
// not only on the open file, so that several processes writing the same
// log (a daemon's stray stderr, a second server) rotate it once.
//
// We keep our own few lines rather than use lumberjack: lumberjack counts
// sizes in whole megabytes (cmdserver.max-log-size takes bytes and
// "500 KB") and names its backups with timestamps, where Mercurial's users
// expect PATH.1 ... PATH.N.
type LogFile struct {
	path     string
	maxSize  int64
	maxFiles int
	// OnRotate, if set, is called with the new file after each rotation,
	// under the lock; a daemon uses it to move its fds 1 and 2 there.
	OnRotate func(*os.File) error

	mu sync.Mutex // guards f
	f  *os.File
}

// OpenLog opens the log file at path (made absolute now, so that a later
// chdir does not move it). maxSize <= 0 disables rotation; maxFiles <= 0
// keeps no old files (the log is truncated instead).
func OpenLog(path string, maxSize int64, maxFiles int) (*LogFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	l := &LogFile{path: abs, maxSize: maxSize, maxFiles: maxFiles}
	if err := l.rotateIfFull(); err != nil {
		return nil, err
	}
	f, err := l.open()
	if err != nil {
		return nil, err
	}
	l.f = f
	return l, nil
}

func (l *LogFile) open() (*os.File, error) {
	f, err := openOwned(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	return f, nil
}

// Path returns the absolute path of the log.
func (l *LogFile) Path() string { return l.path }

// File returns the open log file, for redirecting stdio to it.
func (l *LogFile) File() *os.File {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f
}

// Write appends p to the log, rotating it first if it is full. A failed
// rotation is not fatal: the line goes to the current file (so does it
// when the new file at the path is refused).
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.maxSize > 0 {
		if fi, err := os.Lstat(l.path); err != nil || fi.Size() >= l.maxSize || !os.SameFile(fi, l.stat()) {
			l.reopen()
		}
	}
	return l.f.Write(p)
}

func (l *LogFile) stat() os.FileInfo {
	fi, err := l.f.Stat()
	if err != nil {
		return nil
	}
	return fi
}

// reopen rotates the log if it is full and opens the file at the path,
// which another process may have rotated already. l.mu must be held.
func (l *LogFile) reopen() {
	if err := l.rotateIfFull(); err != nil {
		return
	}
	f, err := l.open()
	if err != nil {
		return
	}
	l.f.Close()
	l.f = f
	if l.OnRotate != nil {
		_ = l.OnRotate(f)
	}
}

// rotateIfFull renames PATH.i-1 to PATH.i down to PATH to PATH.1 when
// PATH holds at least maxSize bytes.
func (l *LogFile) rotateIfFull() error {
	if l.maxSize <= 0 {
		return nil
	}
	fi, err := os.Lstat(l.path)
	if err != nil || fi.Size() < l.maxSize {
		return nil
	}
	if l.maxFiles <= 1 {
		// No old file is kept: start afresh.
		if err := os.Remove(l.path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("rotating log file: %w", err)
		}
		return nil
	}
	for i := l.maxFiles - 1; i > 1; i-- {
		rename(fmt.Sprintf("%s.%d", l.path, i-1), fmt.Sprintf("%s.%d", l.path, i))
	}
	if err := rename(l.path, l.path+".1"); err != nil {
		return fmt.Errorf("rotating log file: %w", err)
	}
	return nil
}

// rename moves old to new, replacing new; a missing old is no error.
func rename(old, new string) error {
	if err := os.Rename(old, new); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Close closes the log file.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
