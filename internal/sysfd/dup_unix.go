//go:build unix && !linux

package sysfd

import "golang.org/x/sys/unix"

// Dup2 points descriptor to at what from points at.
func Dup2(from, to int) error { return unix.Dup2(from, to) }
