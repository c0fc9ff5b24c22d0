// Package procstat reads a process's state, parent and process group, as
// /proc/PID/stat gives them on Linux. Elsewhere Read fails with
// ErrUnsupported and callers fall back on kill(2).
package procstat

import "errors"

// ErrUnsupported is Read's error where the system has no /proc.
var ErrUnsupported = errors.New("procstat: no /proc on this system")

// Stat is what a process's stat line says of it.
type Stat struct {
	State byte // R, S, D, T, Z, ...
	PPID  int
	PGRP  int
}

// Zombie reports whether the process has exited and waits to be reaped.
func (s Stat) Zombie() bool { return s.State == 'Z' }

// Alive reports whether pid runs: Read finds it and it is not a zombie
// (a container's init may leave one for a second or more). Where Read
// cannot tell, running wins (the caller asked kill(2) first).
func Alive(pid int) bool {
	st, err := Read(pid)
	if errors.Is(err, ErrUnsupported) {
		return true
	}
	return err == nil && !st.Zombie()
}
