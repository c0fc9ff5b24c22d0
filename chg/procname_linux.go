package chg

import (
	"fmt"
	"os"
)

// canSetProcName reports whether setprocname is advertised.
const canSetProcName = true

// setProcName sets the process name shown by ps and top (comm, at most 15
// bytes). It writes /proc/self/comm rather than calling prctl(PR_SET_NAME),
// which would rename only the OS thread the goroutine happens to run on;
// /proc/self/comm names the thread-group leader, which is what ps shows.
func setProcName(name string) error {
	if len(name) > 15 {
		name = name[:15]
	}
	if err := os.WriteFile("/proc/self/comm", []byte(name), 0); err != nil {
		return fmt.Errorf("setting process name: %w", err)
	}
	return nil
}
