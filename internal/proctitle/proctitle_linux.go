package proctitle

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Supported reports whether Set can change what ps shows.
const Supported = true

// The title is the main thread's comm, the name ps and top show.
// prctl(PR_SET_NAME) names only the calling thread, and Go moves
// goroutines between threads, so the main thread's comm is read and
// written through /proc/self/comm (/proc/self is the thread-group leader),
// which the kernel applies with the same effect as prctl on that thread.
const commPath = "/proc/self/comm"

// maxComm is the longest comm the kernel keeps (TASK_COMM_LEN less the NUL).
const maxComm = 15

// Get returns the current title ("" when it cannot be read).
func Get() string {
	b, err := os.ReadFile(commPath)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// Set sets the title, cut to the 15 bytes the kernel keeps. Plain system
// calls, not an os.File: chg asks on every call, and opening a file the Go
// way costs four more (poller registration and its undoing).
func Set(title string) error {
	if len(title) > maxComm {
		title = title[:maxComm]
	}
	fd, err := unix.Open(commPath, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("setting process name: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(title)); err != nil {
		return fmt.Errorf("setting process name: %w", err)
	}
	return nil
}
