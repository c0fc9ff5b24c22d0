package protocol

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// watchHangup blocks in poll(2) on fd together with the read end of a
// pipe whose write end is closed when done closes, so ending a watch costs
// no timeout. Linux reports POLLHUP and POLLERR to a blocked poll even when
// no event is asked for; asking for nothing on fd keeps pending input from
// waking the watch. A pipe rather than an eventfd as the wake-up: the same
// call on every Unix.
func watchHangup(fd int, done <-chan struct{}) bool {
	// os.Pipe sets close-on-exec atomically where it can (and under
	// ForkLock elsewhere), so a concurrent fork never inherits it.
	wakeR, wakeW, err := os.Pipe()
	if err != nil {
		<-done // cannot watch: the command simply runs to its end
		return false
	}
	defer wakeR.Close()
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
		case <-stopped:
		}
		// Closing the write end makes the read end readable (EOF).
		wakeW.Close()
	}()
	defer func() {
		close(stopped)
		wg.Wait()
	}()
	// Fd, not SyscallConn: the descriptor stays open until the deferred
	// Close above, after the poll has returned.
	wake := int32(wakeR.Fd())
	fds := []unix.PollFd{{Fd: int32(fd)}, {Fd: wake, Events: unix.POLLIN}}
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
