package daemon

import (
	"fmt"
	"os"
	"strconv"
)

// PIDFile is a pid file opened ahead of time, so that a bad path is
// reported before the server starts, and written once the pid that
// actually serves is known.
type PIDFile struct {
	f          *os.File
	appendMode bool
}

// OpenPIDFile opens (creating) the pid file at path, relative to the
// current directory. With appendMode, Write adds a line to what the file
// holds, for callers that start several servers and stop them all at the
// end (Mercurial's test harness does); otherwise Write replaces it.
func OpenPIDFile(path string, appendMode bool) (*PIDFile, error) {
	flag := os.O_WRONLY | os.O_CREATE
	if appendMode {
		flag |= os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o666)
	if err != nil {
		return nil, fmt.Errorf("opening pid file: %w", err)
	}
	return &PIDFile{f: f, appendMode: appendMode}, nil
}

// Write writes pid and a newline, then closes the file.
func (p *PIDFile) Write(pid int) error {
	defer p.f.Close()
	// Truncate only now: a server that fails to start leaves the old
	// content alone.
	if !p.appendMode {
		if err := p.f.Truncate(0); err != nil {
			return fmt.Errorf("truncating pid file: %w", err)
		}
	}
	if _, err := p.f.WriteString(strconv.Itoa(pid) + "\n"); err != nil {
		return fmt.Errorf("writing pid file: %w", err)
	}
	return nil
}

// Close abandons the pid file without writing it.
func (p *PIDFile) Close() error { return p.f.Close() }
