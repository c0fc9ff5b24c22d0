//go:build unix

package protocol

import "syscall"

// processGroup is the process group announced in the hello.
func processGroup() int { return syscall.Getpgrp() }
