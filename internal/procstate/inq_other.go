//go:build unix && !linux

package procstate

import "errors"

// buffered is not asked of the kernel here: the relay's reads are then
// reported only once they return (see OnRelay).
func buffered(int) (int, error) { return 0, errors.ErrUnsupported }
