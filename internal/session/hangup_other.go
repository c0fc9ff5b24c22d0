//go:build !unix

package session

// PollHangup returns a Session.Disconnected function. This platform has no
// poll(2) to watch a descriptor for the peer going away without reading
// it, so the watch only waits for the command to end: a disconnected
// client is noticed when the command next writes to it.
func PollHangup(fd int) func(done <-chan struct{}) bool {
	return func(done <-chan struct{}) bool {
		<-done
		return false
	}
}
