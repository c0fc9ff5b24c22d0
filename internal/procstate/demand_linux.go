package procstate

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// canSeeReaders: Linux shows, in /proc/PID/task/TID/syscall, the system
// call a thread is blocked in and its arguments.
const canSeeReaders = true

// readerWaiting reports whether a thread of this process, or of one of
// its children (a shell the command started with its stdin), is blocked
// reading a descriptor that is the pipe with inode ino. No kernel
// interface says when a pipe's reader waits on it (the writer is woken
// for space, never for demand); this is the one that works without
// privileges.
func readerWaiting(ino uint64) bool {
	target := "pipe:[" + strconv.FormatUint(ino, 10) + "]"
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false
	}
	for _, t := range tasks {
		dir := "/proc/self/task/" + t.Name()
		if blockedReading("/proc/self", dir, target) {
			return true
		}
		children, err := os.ReadFile(dir + "/children")
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(children)) {
			proc := "/proc/" + pid
			ctasks, err := os.ReadDir(proc + "/task")
			if err != nil {
				continue
			}
			for _, ct := range ctasks {
				if blockedReading(proc, proc+"/task/"+ct.Name(), target) {
					return true
				}
			}
		}
	}
	return false
}

// blockedReading reports whether the thread at taskDir is in read(2) on a
// descriptor of proc that is target.
func blockedReading(proc, taskDir, target string) bool {
	b, err := os.ReadFile(taskDir + "/syscall")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return false // "running", or not in a system call
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil || (nr != unix.SYS_READ && nr != unix.SYS_READV) {
		return false
	}
	fd, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 32)
	if err != nil {
		return false
	}
	link, err := os.Readlink(proc + "/fd/" + strconv.FormatUint(fd, 10))
	return err == nil && link == target
}

// pipeEmpty reports whether the reader has taken everything fed so far:
// a reader still blocked in the read the last chunk is waking is not a
// new demand.
func (f *feeder) pipeEmpty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r < 0 {
		return false
	}
	n, err := unix.IoctlGetInt(f.r, unix.TIOCINQ) // FIONREAD, as Linux spells it for every arch
	return err == nil && n == 0
}
