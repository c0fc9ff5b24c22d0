package unixfork

import "golang.org/x/sys/unix"

// setNoFileLimit sets RLIMIT_NOFILE (soft and hard) to n; FreeBSD's
// Rlimit fields are signed.
func setNoFileLimit(n uint64) error {
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: int64(n), Max: int64(n)})
}
