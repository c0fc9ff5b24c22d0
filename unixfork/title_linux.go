//go:build linux

package unixfork

import (
	"os"
	"strings"
)

// The process title restored between clients is the main thread's comm,
// the name ps and top show (chg's setprocname sets it). prctl(PR_SET_NAME)
// names only the calling thread, and Go moves goroutines between threads,
// so the main thread's comm is read and written through /proc/self/comm
// (/proc/self is the thread-group leader), which the kernel applies with
// the same effect as prctl on that thread.

func readTitle() string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func writeTitle(t string) error {
	return os.WriteFile("/proc/self/comm", []byte(t), 0)
}
