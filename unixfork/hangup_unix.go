//go:build unix

package unixfork

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// pollHangup is protocol.PollHangup without its polling interval: it
// waits in poll(2) on the connection and on a pipe that is written when
// done closes, so the session's end-of-command wait returns at once instead
// of after up to 250 ms (which would cap a client at about four commands a
// second).
func pollHangup(fd int) func(done <-chan struct{}) bool {
	return func(done <-chan struct{}) bool {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			return protocol.PollHangup(fd)(done)
		}
		defer unix.Close(p[0])
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer unix.Close(p[1])
			select {
			case <-done:
				_, _ = unix.Write(p[1], []byte{0})
			case <-stop:
			}
		}()
		defer wg.Wait()
		defer close(stop)
		fds := []unix.PollFd{
			{Fd: int32(fd)}, // POLLHUP and POLLERR are always reported
			{Fd: int32(p[0]), Events: unix.POLLIN},
		}
		for {
			_, err := unix.Poll(fds, -1)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return false
			}
			if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
				return true
			}
			if fds[1].Revents != 0 {
				return false
			}
		}
	}
}
