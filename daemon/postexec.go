//go:build unix

package daemon

import "strings"

// Postexec holds the instructions of --daemon-postexec. Their presence
// tells a process that it is the detached child of a daemon (started by
// `serve --daemon` or by chg): it runs them once its socket accepts
// connections.
type Postexec struct {
	// Present is true when at least one instruction was given, `none`
	// included.
	Present bool
	// Unlink is the lock file to remove once ready ("unlink:PATH").
	Unlink string
	// Chdir is the directory to move to once ready ("chdir:PATH").
	Chdir string
}

// InvalidPostexecError reports an instruction that is neither `unlink:`,
// `chdir:` nor `none`.
type InvalidPostexecError struct {
	Value string
}

func (e *InvalidPostexecError) Error() string {
	return "invalid value for --daemon-postexec: " + e.Value
}

// ParsePostexec parses the values of every --daemon-postexec option, in
// order; a later instruction of the same kind replaces an earlier one.
func ParsePostexec(values []string) (Postexec, error) {
	var pe Postexec
	for _, v := range values {
		switch {
		case strings.HasPrefix(v, "unlink:"):
			pe.Unlink = v[len("unlink:"):]
		case strings.HasPrefix(v, "chdir:"):
			pe.Chdir = v[len("chdir:"):]
		case v == "none":
		default:
			return Postexec{}, &InvalidPostexecError{Value: v}
		}
		pe.Present = true
	}
	return pe, nil
}
