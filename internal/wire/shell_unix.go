//go:build unix

package wire

import (
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// setOwnGroup makes c's process the leader of a new process group, so
// that everything the command starts can be signalled at once.
func setOwnGroup(c *exec.Cmd) bool {
	if c.SysProcAttr == nil {
		c.SysProcAttr = &syscall.SysProcAttr{}
	}
	c.SysProcAttr.Setpgid = true
	return true
}

// hangUpGroup ends process group pgid as a terminal's hang-up would: SIGHUP
// (and SIGCONT, so that stopped members act on it), then SIGKILL to
// whatever is left after grace. It returns once the group is empty or
// killed. While any member lives the id cannot be reused; once none does,
// it could only name another group after the pids wrapped around within
// grace.
func hangUpGroup(pgid int, grace time.Duration) {
	_ = syscall.Kill(-pgid, syscall.SIGHUP)
	_ = syscall.Kill(-pgid, syscall.SIGCONT)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) || onlyZombies(pgid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}
