//go:build !unix

package session

import "os"

// processGroup is the process group announced in the hello. Windows has
// no process groups; the process's own id stands in, so the hello keeps
// its usual shape.
func processGroup() int { return os.Getpid() }
