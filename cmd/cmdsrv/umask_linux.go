package main

import (
	"os"
	"strconv"
	"strings"
)

// currentUmask reads the umask from /proc (no window in which it is
// changed), falling back to setting and restoring it.
func currentUmask() int {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 32); err == nil {
					return int(n)
				}
			}
		}
	}
	return swapUmask()
}
