//go:build !unix

package session

// PollHangup returns nil: this platform has no poll(2) to watch a
// descriptor for the peer going away without reading it, and a watch that
// only waited for the command to end would cost a timer and a goroutine
// per command for nothing (Session.run skips a nil Disconnected). A
// disconnected client is noticed when the command next writes to it.
func PollHangup(fd int) func(done <-chan struct{}) bool {
	return nil
}
