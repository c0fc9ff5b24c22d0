//go:build !(linux && (amd64 || arm64))

package sigaction

import "syscall"

// Supported reports whether Get and Set work here.
const Supported = false

// Action is a disposition; here only its zero value exists.
type Action struct{}

// IsDefault reports whether a is SIG_DFL; unknown here.
func (Action) IsDefault() bool { return false }

// IsIgnored reports whether a is SIG_IGN; unknown here.
func (Action) IsIgnored() bool { return false }

// Get fails here.
func Get(syscall.Signal) (Action, error) { return Action{}, ErrUnsupported }

// Set fails here.
func Set(syscall.Signal, Action) error { return ErrUnsupported }
