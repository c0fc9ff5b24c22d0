//go:build unix

package main

import "syscall"

// execve replaces this process with path, as chg runs hg when it cannot
// use a server: the application inherits the terminal, signals and pid.
func execve(path string, argv, env []string) error {
	return syscall.Exec(path, argv, env)
}
