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
// pipe whose reader closed. It returns false as soon as done is closed: a
// pipe closed with done wakes its poll, so the end of a command never waits
// for a poll timeout (chg's round trip is a few milliseconds).
func PollHangup(fd int) func(done <-chan struct{}) bool {
	return func(done <-chan struct{}) bool {
		var wake [2]int
		if err := unix.Pipe2(wake[:], unix.O_CLOEXEC); err != nil {
			return pollHangupSlow(fd, done)
		}
		defer unix.Close(wake[0])
		// Owned by the session: it always closes done when the command ends.
		go func() {
			<-done
			unix.Close(wake[1])
		}()
		fds := []unix.PollFd{{Fd: int32(fd), Events: 0}, {Fd: int32(wake[0]), Events: unix.POLLIN}} // POLLHUP and POLLERR are always reported
		for {
			_, err := unix.Poll(fds, -1)
			if err == unix.EINTR {
				continue
			}
			if err != nil || fds[1].Revents != 0 {
				return false
			}
			if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
				return true
			}
		}
	}
}

// pollHangupSlow is PollHangup without a wake-up pipe (out of
// descriptors): it polls with a short timeout so it notices done within a
// quarter of a second.
func pollHangupSlow(fd int, done <-chan struct{}) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: 0}}
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
