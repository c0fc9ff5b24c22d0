package protocol

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// PollHangup returns a Session.Disconnected function that watches fd for
// the peer going away: POLLHUP on a socket whose peer closed, POLLERR on a
// pipe whose reader closed. The watch blocks in poll(2) together with an
// eventfd that is signalled when done closes, so ending a watch costs no
// timeout; a command that ends before the watch starts costs nothing.
func PollHangup(fd int) func(done <-chan struct{}) bool {
	return func(done <-chan struct{}) bool {
		select {
		case <-done:
			return false
		default:
		}
		wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			<-done // cannot watch: the command simply runs to its end
			return false
		}
		stopped := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-done:
				one := [8]byte{1}
				_, _ = unix.Write(wake, one[:])
			case <-stopped:
			}
		}()
		defer func() {
			close(stopped)
			wg.Wait()
			unix.Close(wake)
		}()
		// POLLHUP and POLLERR are always reported; asking for nothing else
		// on fd keeps pending input from waking the watch.
		fds := []unix.PollFd{{Fd: int32(fd)}, {Fd: int32(wake), Events: unix.POLLIN}}
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
