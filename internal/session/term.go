package session

import (
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether f is a terminal. golang.org/x/term knows each
// platform's way to ask (TCGETS, TIOCGETA, GetConsoleMode).
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}
