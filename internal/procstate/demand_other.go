//go:build unix && !linux

package procstate

// canSeeReaders: no unprivileged way here to see a thread blocked
// reading a pipe, so fd 0 is /dev/null while lent.
const canSeeReaders = false

func readerWaiting(uint64) bool { return false }

// pipeEmpty is never asked: without readerWaiting there is no feeding.
func (f *feeder) pipeEmpty() bool { return false }
