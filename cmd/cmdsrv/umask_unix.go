//go:build unix

package main

import "syscall"

// swapUmask reads the umask by setting it and putting it back: another
// thread creating a file in between would get 022.
func swapUmask() int {
	m := syscall.Umask(0o022)
	syscall.Umask(m)
	return m
}
