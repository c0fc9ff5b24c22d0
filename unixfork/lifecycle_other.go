//go:build !linux && !darwin && !freebsd

package unixfork

import "net"

// peerPID is unknown on this platform, so Stop cannot confirm a master
// and signals none.
func peerPID(*net.UnixConn) int { return 0 }

// parentPID is unknown on this platform.
func parentPID(int) int { return -1 }
