//go:build unix && !linux

package main

// currentUmask has no race-free way to read the umask here.
func currentUmask() int { return swapUmask() }
