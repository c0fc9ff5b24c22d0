//go:build unix

package session

import (
	"time"

	"golang.org/x/sys/unix"
)

// PollHangup returns a Session.Disconnected function that watches fd for
// the peer going away: POLLHUP on a socket whose peer closed, POLLERR on a
// pipe whose reader closed, without reading from fd. A command that ends
// before the watch starts costs nothing. How the watch waits is per
// platform: watchHangup.
func PollHangup(fd int) func(done <-chan struct{}) bool {
	return func(done <-chan struct{}) bool {
		select {
		case <-done:
			return false
		default:
		}
		return watchHangup(fd, done)
	}
}

// watchHangupPeriodic checks fd every interval with a poll that does not
// wait, until fd has hung up (true) or done closes (false). It is the
// watch where poll(2) does not wake a blocked caller for a hang-up alone
// (see hangup_bsd.go); it is built on Linux too, so that its tests run.
func watchHangupPeriodic(fd int, done <-chan struct{}, interval time.Duration) bool {
	t := time.NewTicker(interval)
	defer t.Stop()
	// POLLIN and POLLOUT are asked for only so that macOS's poll, built on
	// kqueue, registers fd at all; its hang-up shows as POLLHUP (EV_EOF).
	// Readiness itself is ignored.
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLOUT}}
	for {
		select {
		case <-done:
			return false
		case <-t.C:
		}
		fds[0].Revents = 0
		if _, err := unix.Poll(fds, 0); err != nil {
			continue // EINTR; anything else shows again next time
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			return true
		}
	}
}
