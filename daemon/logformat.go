//go:build unix

package daemon

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// LogWriter is the Output of the server's hclog logger when cmdserver.log
// is set. It gives each entry Mercurial's prefix,
//
//	YYYY/MM/DD HH:MM:SS (PID)> message
//
// and keeps only the event kinds that cmdserver.track-log names.
//
// It reads what hclog writes with DisableTime (one Write per entry:
// "[LEVEL] name: message: k=v"): the INFO tag is dropped (the others
// stay), and so is the root logger's name. The event kind of an entry is
// the first part of its sub-logger name (log.Named("chgserver") logs
// "chgserver" events); the root logger's own entries are "cmdserver"
// events.
type LogWriter struct {
	// Out receives the lines.
	Out io.Writer
	// Root is the root logger's name (the program's name).
	Root string
	// Tracked are the event kinds written; nil, or one of "*" or "all",
	// writes every kind.
	Tracked []string
	// Now and PID default to time.Now and os.Getpid.
	Now func() time.Time
	PID int

	mu sync.Mutex // serialises writes, so one entry is one Write on Out
}

// NewLogger returns an hclog logger named name that writes through w
// (Mercurial's line format), at level.
func NewLogger(name string, w *LogWriter, level hclog.Level) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        name,
		Output:      w,
		Level:       level,
		DisableTime: true,
	})
}

// parse returns the event kind and the message of one hclog entry.
func (w *LogWriter) parse(entry []byte) (kind string, msg []byte) {
	msg = entry
	if bytes.HasPrefix(msg, []byte("[INFO]  ")) {
		msg = msg[len("[INFO]  "):]
	}
	body := msg
	if i := bytes.IndexByte(body, ']'); len(body) > 0 && body[0] == '[' && i > 0 {
		body = bytes.TrimLeft(body[i+1:], " ")
	}
	name, _, ok := bytes.Cut(body, []byte(": "))
	if !ok || bytes.ContainsAny(name, " \n") {
		return "cmdserver", msg
	}
	n := string(name)
	switch {
	case n == w.Root:
		// Drop the root name; the kind is the root's own.
		return "cmdserver", append(msg[:len(msg)-len(body)], body[len(name)+2:]...)
	case w.Root != "" && strings.HasPrefix(n, w.Root+"."):
		n = n[len(w.Root)+1:]
		kind, _, _ := strings.Cut(n, ".")
		return kind, append(msg[:len(msg)-len(body)], body[len(w.Root)+1:]...)
	}
	kind, _, _ = strings.Cut(n, ".")
	return kind, msg
}

// Tracks reports whether events of kind are written.
func (w *LogWriter) Tracks(kind string) bool {
	if len(w.Tracked) == 0 {
		return true
	}
	for _, t := range w.Tracked {
		if t == kind || t == "*" || t == "all" {
			return true
		}
	}
	return false
}

// Write writes one hclog entry as one log line (or nothing when its kind
// is not tracked). It always reports len(p), so hclog never sees a short
// write.
func (w *LogWriter) Write(p []byte) (int, error) {
	entry := append([]byte(nil), p...)
	kind, msg := w.parse(entry)
	if !w.Tracks(kind) {
		return len(p), nil
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	pid := w.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	line := make([]byte, 0, len(msg)+32)
	line = now().AppendFormat(line, "2006/01/02 15:04:05")
	line = append(line, " ("...)
	line = strconv.AppendInt(line, int64(pid), 10)
	line = append(line, ")> "...)
	line = append(line, msg...)
	if len(line) == 0 || line[len(line)-1] != '\n' {
		line = append(line, '\n')
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.Out.Write(line)
	return len(p), err
}

// ParseTrackLog splits cmdserver.track-log (comma or space separated).
func ParseTrackLog(v string) []string {
	f := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(f) == 0 {
		return nil
	}
	return f
}
