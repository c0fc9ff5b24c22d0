package protocol

import (
	"os"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// PollHangup returns a Session.Disconnected function that watches fd for
// the peer going away: POLLHUP on a socket whose peer closed, POLLERR on a
// pipe whose reader closed. It polls with a short timeout so it notices
// done within a quarter of a second.
func PollHangup(fd int) func(done <-chan struct{}) bool {
	return func(done <-chan struct{}) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: 0}} // POLLHUP and POLLERR are always reported
		for {
			select {
			case <-done:
				return false
			default:
			}
			n, err := unix.Poll(fds, 250)
			if err != nil && err != unix.EINTR {
				return false
			}
			if n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
				return true
			}
		}
	}
}
