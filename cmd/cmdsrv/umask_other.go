//go:build !unix

package main

// currentUmask is 0 where files have no umask (Windows).
func currentUmask() int { return 0 }
