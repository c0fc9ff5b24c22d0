//go:build unix && !linux

package session

import "time"

// hangupCheckInterval is how often a running command's connection is
// checked for a hang-up here.
const hangupCheckInterval = 100 * time.Millisecond

// watchHangup checks fd periodically. The BSDs' poll(2) does not wake a
// caller blocked on a descriptor for which it asked no event when the peer
// goes away (FreeBSD records no waiter then; macOS's kqueue-based poll does
// not even register the descriptor), and asking for POLLIN or POLLOUT would
// wake it for pending input or free buffer space, again and again. A poll
// that does not wait reports the hang-up, so it is asked every
// hangupCheckInterval, only while a command runs longer than the session's
// watch delay.
func watchHangup(fd int, done <-chan struct{}) bool {
	return watchHangupPeriodic(fd, done, hangupCheckInterval)
}
