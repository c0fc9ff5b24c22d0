//go:build unix

package protocol

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// PollHangup returns a Session.Disconnected function that watches fd for
// the peer going away: POLLHUP on a socket whose peer closed, POLLERR on a
// pipe whose reader closed. The watch blocks in poll(2) together with the
// read end of a pipe whose write end is closed when done closes, so ending
// a watch costs no timeout; a command that ends before the watch starts
// costs nothing. A pipe rather than Linux's eventfd keeps the wake-up the
// same on every Unix.
func PollHangup(fd int) func(done <-chan struct{}) bool {
	return func(done <-chan struct{}) bool {
		select {
		case <-done:
			return false
		default:
		}
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
		// POLLHUP and POLLERR are always reported; asking for nothing else
		// on fd keeps pending input from waking the watch.
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
}
