//go:build !linux

package unixfork

// currentRSS is unknown here: cmdserver.worker-max-rss is not enforced.
func currentRSS() (int64, bool) { return 0, false }
