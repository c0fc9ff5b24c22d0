package session

import (
	"sync"

	"golang.org/x/sys/unix"
)

// watchHangup blocks in poll(2) on fd together with the read end of a
// pipe whose write end is closed when done closes, so ending a watch costs
// no timeout. Linux reports POLLHUP and POLLERR to a blocked poll even when
// no event is asked for; asking for nothing on fd keeps pending input from
// waking the watch. The wake-up is a plain pipe (pipe2, close-on-exec),
// not Linux's eventfd.
func watchHangup(fd int, done <-chan struct{}) bool {
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC); err != nil {
		<-done // cannot watch: the command simply runs to its end
		return false
	}
	defer unix.Close(wake[0])
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
		case <-stopped:
		}
		// Closing the write end wakes the poll below (POLLHUP on the read
		// end).
		unix.Close(wake[1])
	}()
	defer func() {
		close(stopped)
		wg.Wait()
	}()
	fds := []unix.PollFd{{Fd: int32(fd)}, {Fd: int32(wake[0]), Events: unix.POLLIN}}
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
