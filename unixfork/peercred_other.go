//go:build !linux && !darwin && !freebsd

package unixfork

import (
	"errors"
	"net"
)

// peerUID cannot check peer credentials on this platform, so it fails and
// the connection is refused (fail closed).
func peerUID(c *net.UnixConn) (int, error) {
	return -1, errors.New("peer credentials are not supported on this platform")
}
