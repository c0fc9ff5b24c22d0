//go:build unix && !freebsd

package unixfork

import "golang.org/x/sys/unix"

// setNoFileLimit sets RLIMIT_NOFILE (soft and hard) to n.
func setNoFileLimit(n uint64) error {
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n})
}
