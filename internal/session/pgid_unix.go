//go:build unix

package session

import "syscall"

// processGroup is the process group announced in the hello.
func processGroup() int { return syscall.Getpgrp() }
